"""When each article last became public (gathered, or a draft published); deliveries by variant.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("visible_since", UtcDateTime))
    op.execute("UPDATE articles SET visible_since = first_seen")
    op.create_index("ix_deliveries_variant_id", "deliveries", ["variant_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_variant_id", "deliveries")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("visible_since")
