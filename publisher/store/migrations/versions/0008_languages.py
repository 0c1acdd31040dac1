"""Languages: each article's (empty: the site's), and the ones each reader reads.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("language", sa.String(35), nullable=False, server_default=""))
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("languages", sa.JSON))
    with op.batch_alter_table("edition_variants") as batch:
        batch.add_column(sa.Column("language", sa.String(35), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("edition_variants") as batch:
        batch.drop_column("language")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("languages")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("language")
