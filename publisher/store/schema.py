"""The database tables, shared by the store and the migrations' autogenerate check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC; SQLite would otherwise return naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

articles = Table(
    "articles",
    metadata,
    Column("id", String(1024), primary_key=True),
    Column("section", String(100), nullable=False),
    Column("url", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("authors", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("published", UtcDateTime, nullable=False),
    Column("updated", UtcDateTime, nullable=False),
    Column("image", Text),
    Column("image_alt", Text),
    Column("draft", Boolean, nullable=False, default=False),
    Column("language", String(35), nullable=False, server_default=""),  # "": the site's
    Column("source", String(1024), nullable=False),
    Column("origin", Text, nullable=False),
    Column("fingerprint", String(200), nullable=False, default=""),
    Column("content_hash", String(64), nullable=False),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_changed", UtcDateTime, nullable=False),
    # When the article last became public: first gathered, or published after being a draft.
    Column("visible_since", UtcDateTime),
    Index(None, "section", "published"),
    Index(None, "source"),
    Index(None, "last_changed"),
    Index(None, "url"),
)

source_state = Table(
    "source_state",
    metadata,
    Column("key", String(1024), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("cursor", Text),
    Column("item_count", Integer, nullable=False, default=0),
    Column("checked_at", UtcDateTime),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", Text, nullable=False, default=""),
    Column("status", String(20), nullable=False),
    Column("sections", JSON, nullable=False),
    Column("frequency", String(20), nullable=False),
    Column("secret", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("confirmed_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    # Local morning delivery: the reader's zone and hour (None: the site's).
    Column("timezone", String(64)),
    Column("hour", Integer),
    Column("languages", JSON),  # the languages they read; empty: every language
    Index(None, "status", "frequency"),
    # A tick's question (see SubscriberStore.due): with every equality in one index, SQLite
    # picks it over (status, frequency) even without ANALYZE statistics.
    Index(None, "timezone", "hour", "status", "frequency"),
    Index(None, "updated_at"),
)

# The local date of each reader's last daily digest in local morning delivery (one a local
# date, whatever their zone). A table of its own: a slot marks thousands of readers spread
# over every page of `subscribers`; here the same marks fill a few hundred small pages.
daily_served = Table(
    "daily_served",
    metadata,
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("local_date", String(10), nullable=False),
)

editions = Table(
    "editions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(100), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("cutoff", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("status", String(20), nullable=False, server_default="planned"),
    Column("recipients", Integer, nullable=False, server_default="0"),
    Column("skipped", Integer, nullable=False, server_default="0"),
    Column("status_reason", Text),
)

edition_variants = Table(
    "edition_variants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("article_ids", JSON, nullable=False),
    Column("language", String(35), nullable=False, server_default=""),  # its words' language
    UniqueConstraint("edition_id", "fingerprint"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"), nullable=False),
    Column(
        "subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("variant_id", Integer, ForeignKey("edition_variants.id"), nullable=False),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("message_id", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime),
    Column("lease_owner", String(200)),
    Column("lease_until", UtcDateTime),
    Column("sent_at", UtcDateTime),
    UniqueConstraint("edition_id", "subscriber_id"),
    Index(None, "subscriber_id"),
    Index(None, "edition_id", "state"),
    Index(None, "variant_id"),
    Index(None, "state", "next_attempt_at"),
)

# A named lease held by one process at a time (the scheduler's leader), renewed before it ends.
leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)
