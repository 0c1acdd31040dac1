"""Delivery rows for sending: next attempt, lease, sent time; an edition's status and counts.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("next_attempt_at", UtcDateTime))
        batch.add_column(sa.Column("lease_owner", sa.String(200)))
        batch.add_column(sa.Column("lease_until", UtcDateTime))
        batch.add_column(sa.Column("sent_at", UtcDateTime))
    op.create_index(
        "ix_deliveries_state_next_attempt_at", "deliveries", ["state", "next_attempt_at"]
    )
    with op.batch_alter_table("editions") as batch:
        batch.add_column(
            sa.Column("status", sa.String(20), nullable=False, server_default="planned")
        )
        batch.add_column(sa.Column("recipients", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("skipped", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("status_reason", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        for column in ("status_reason", "skipped", "recipients", "status"):
            batch.drop_column(column)
    op.drop_index("ix_deliveries_state_next_attempt_at", "deliveries")
    with op.batch_alter_table("deliveries") as batch:
        for column in ("sent_at", "lease_until", "lease_owner", "next_attempt_at"):
            batch.drop_column(column)
