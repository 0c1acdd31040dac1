"""Each reader's zone and delivery hour, and the local date of their last daily digest.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64)))
        batch.add_column(sa.Column("hour", sa.Integer))
        batch.add_column(sa.Column("last_daily", sa.String(10)))
    op.create_index(
        "ix_subscribers_timezone_hour_status_frequency",
        "subscribers",
        ["timezone", "hour", "status", "frequency"],
    )
    # What a scheduler tick checks first: did any reader change since it last looked?
    op.create_index("ix_subscribers_updated_at", "subscribers", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_subscribers_updated_at", "subscribers")
    op.drop_index("ix_subscribers_timezone_hour_status_frequency", "subscribers")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("last_daily")
        batch.drop_column("hour")
        batch.drop_column("timezone")
