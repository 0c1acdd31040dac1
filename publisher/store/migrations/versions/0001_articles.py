"""Articles and per-source gathering state.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.String(1024), nullable=False),
        sa.Column("section", sa.String(100), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("authors", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("published", UtcDateTime, nullable=False),
        sa.Column("updated", UtcDateTime, nullable=False),
        sa.Column("image", sa.Text),
        sa.Column("image_alt", sa.Text),
        sa.Column("draft", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("first_seen", UtcDateTime, nullable=False),
        sa.Column("last_changed", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
    )
    op.create_index("ix_articles_section_published", "articles", ["section", "published"])
    op.create_index("ix_articles_source", "articles", ["source"])
    op.create_index("ix_articles_last_changed", "articles", ["last_changed"])
    op.create_table(
        "source_state",
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("cursor", sa.Text),
        sa.Column("item_count", sa.Integer, nullable=False),
        sa.Column("checked_at", UtcDateTime),
        sa.PrimaryKeyConstraint("key", name="pk_source_state"),
    )


def downgrade() -> None:
    op.drop_table("source_state")
    op.drop_table("articles")
