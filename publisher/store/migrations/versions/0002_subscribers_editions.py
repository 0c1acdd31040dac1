"""Subscribers, editions, their variants, and deliveries.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("sections", sa.JSON, nullable=False),
        sa.Column("frequency", sa.String(20), nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("confirmed_at", UtcDateTime),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.UniqueConstraint("email", name="uq_subscribers_email"),
    )
    op.create_index("ix_subscribers_status_frequency", "subscribers", ["status", "frequency"])
    op.create_table(
        "editions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("cutoff", UtcDateTime, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_editions"),
        sa.UniqueConstraint("key", name="uq_editions_key"),
    )
    op.create_table(
        "edition_variants",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("edition_id", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("article_ids", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_edition_variants"),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
            ondelete="CASCADE",
            name="fk_edition_variants_edition_id_editions",
        ),
        sa.UniqueConstraint(
            "edition_id", "fingerprint", name="uq_edition_variants_edition_id_fingerprint"
        ),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("edition_id", sa.Integer, nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("variant_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
            ondelete="CASCADE",
            name="fk_deliveries_edition_id_editions",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            ondelete="CASCADE",
            name="fk_deliveries_subscriber_id_subscribers",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["edition_variants.id"],
            name="fk_deliveries_variant_id_edition_variants",
        ),
        sa.UniqueConstraint(
            "edition_id", "subscriber_id", name="uq_deliveries_edition_id_subscriber_id"
        ),
    )
    op.create_index("ix_deliveries_subscriber_id", "deliveries", ["subscriber_id"])
    op.create_index("ix_deliveries_edition_id_state", "deliveries", ["edition_id", "state"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("edition_variants")
    op.drop_table("editions")
    op.drop_table("subscribers")
