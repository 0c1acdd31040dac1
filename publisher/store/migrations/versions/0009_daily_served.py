"""Each reader's last local date served, moved from `subscribers` to a narrow table of its own
(a local-morning slot marks thousands of readers at once).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_served",
        sa.Column(
            "subscriber_id",
            sa.Integer,
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("local_date", sa.String(10), nullable=False),
    )
    op.execute(
        "INSERT INTO daily_served (subscriber_id, local_date) "
        "SELECT id, last_daily FROM subscribers WHERE last_daily IS NOT NULL"
    )
    # Natively (SQLite 3.35+), not by batch mode's copy of the table: dropping `subscribers`
    # for the copy would cascade to every delivery row.
    op.execute("ALTER TABLE subscribers DROP COLUMN last_daily")


def downgrade() -> None:
    op.add_column("subscribers", sa.Column("last_daily", sa.String(10)))
    op.execute(
        "UPDATE subscribers SET last_daily = (SELECT local_date FROM daily_served "
        "WHERE daily_served.subscriber_id = subscribers.id)"
    )
    op.drop_table("daily_served")
