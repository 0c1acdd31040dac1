"""Subscribers in the database: add, look up, list, remove, stream the confirmed ones."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from publisher.errors import UserError
from publisher.models import Frequency, Subscriber, SubscriberStatus
from publisher.store.db import Database, chunks, valid_ids
from publisher.store.schema import daily_served, subscribers

BULK = 1000  # rows added at once from which PostgreSQL's statistics are refreshed


@dataclass(frozen=True, kw_only=True)
class NewSubscriber:
    """A validated subscriber not yet stored."""

    email: str
    name: str = ""
    sections: tuple[str, ...]
    frequency: Frequency = Frequency.DAILY
    status: SubscriberStatus = SubscriberStatus.PENDING
    timezone: str | None = None
    hour: int | None = None
    languages: tuple[str, ...] = ()


class SubscriberStore:
    """All reads and writes of subscribers."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, new: NewSubscriber, *, now: datetime) -> Subscriber:
        """Store one subscriber; a UserError if the address is already on the list."""
        try:
            with self.db.writing() as conn:
                conn.execute(insert(subscribers).values(_row(new, now)))
        except IntegrityError:
            raise UserError(f"{new.email} is already subscribed") from None
        found = self.by_email(new.email)
        assert found is not None
        return found

    def add_many(self, items: Iterable[NewSubscriber], *, now: datetime) -> int:
        """Store many subscribers in one transaction (emails must be new and distinct)."""
        rows = [_row(item, now) for item in items]
        if rows:
            with self.db.writing() as conn:
                for start in range(0, len(rows), 1000):
                    conn.execute(insert(subscribers), rows[start : start + 1000])
        if len(rows) >= BULK and self.db.is_postgresql:
            # PostgreSQL's advice after a bulk load: fresh statistics now, not when autovacuum
            # comes by. Without them a tick's question picks the wrong index and reads every
            # reader (https://www.postgresql.org/docs/current/populate.html#POPULATE-ANALYZE).
            with self.db.engine.begin() as conn:
                conn.execute(text("ANALYZE subscribers"))
        return len(rows)

    def by_email(self, email: str) -> Subscriber | None:
        """The subscriber with this (normalised) address, or None."""
        query = select(subscribers).where(subscribers.c.email == email)
        with self.db.engine.begin() as conn:
            row = conn.execute(query).first()
        return None if row is None else _subscriber(row)

    def by_ids(self, ids: Iterable[int]) -> dict[int, Subscriber]:
        """The subscribers with these ids (absent ones left out)."""
        found: dict[int, Subscriber] = {}
        with self.db.reading() as conn:
            for chunk in chunks(valid_ids(ids)):
                for row in conn.execute(select(subscribers).where(subscribers.c.id.in_(chunk))):
                    found[row.id] = _subscriber(row)
        return found

    def by_id(self, subscriber_id: int) -> Subscriber | None:
        """One subscriber by id, or None."""
        return self.by_ids([subscriber_id]).get(subscriber_id)

    def existing_emails(self, emails: Iterable[str]) -> set[str]:
        """Which of these addresses are already on the list."""
        wanted = list(emails)
        found: set[str] = set()
        with self.db.engine.begin() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                query = select(subscribers.c.email).where(subscribers.c.email.in_(chunk))
                found.update(conn.execute(query).scalars())
        return found

    def iter(
        self,
        *,
        status: SubscriberStatus | None = None,
        frequency: Frequency | None = None,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[Subscriber]:
        """Subscribers by id, optionally of one status and frequency, streamed; with `shard`
        `(k, n)`, only those whose id is k modulo n."""
        query = select(subscribers).order_by(subscribers.c.id)
        if shard is not None:
            query = query.where(subscribers.c.id % shard[1] == shard[0])
        if status is not None:
            query = query.where(subscribers.c.status == status.value)
        if frequency is not None:
            query = query.where(subscribers.c.frequency == frequency.value)
        with self.db.engine.connect() as conn:
            for row in conn.execution_options(yield_per=2000).execute(query):
                yield _subscriber(row)

    def set_status(self, subscriber_id: int, status: SubscriberStatus, *, now: datetime) -> bool:
        """Change a subscriber's status; False if there is no such subscriber."""
        change = (
            update(subscribers)
            .where(subscribers.c.id == subscriber_id)
            .values(status=status.value, updated_at=now)
        )
        with self.db.writing() as conn:
            return conn.execute(change).rowcount == 1

    def confirm(self, subscriber_id: int, *, now: datetime) -> bool:
        """Confirm a pending subscriber (double opt-in); False if they were not pending, so a
        confirmation link never brings back a reader who unsubscribed or bounced."""
        change = (
            update(subscribers)
            .where(subscribers.c.id == subscriber_id)
            .where(subscribers.c.status == SubscriberStatus.PENDING.value)
            .values(status=SubscriberStatus.CONFIRMED.value, confirmed_at=now, updated_at=now)
        )
        with self.db.writing() as conn:
            return conn.execute(change).rowcount == 1

    def resubscribe(self, subscriber_id: int, new: NewSubscriber, *, now: datetime) -> bool:
        """A reader who unsubscribed signs up again: pending once more (they confirm again),
        with the new choices and a new secret (the links of their old mail stop working).
        False unless they were unsubscribed: bounced and complained addresses stay so."""
        values = _row(new, now)
        for kept in ("email", "created_at"):
            values.pop(kept)
        change = (
            update(subscribers)
            .where(subscribers.c.id == subscriber_id)
            .where(subscribers.c.status == SubscriberStatus.UNSUBSCRIBED.value)
            .values(**values | {"status": SubscriberStatus.PENDING.value, "confirmed_at": None})
        )
        with self.db.writing() as conn:
            return conn.execute(change).rowcount == 1

    def set_preferences(
        self,
        subscriber_id: int,
        *,
        sections: tuple[str, ...],
        frequency: Frequency,
        now: datetime,
        timezone: str | None = None,
        hour: int | None = None,
        languages: tuple[str, ...] = (),
    ) -> bool:
        """Change a subscriber's sections, frequency, zone, hour and languages; False if there
        is no such subscriber."""
        change = (
            update(subscribers)
            .where(subscribers.c.id == subscriber_id)
            .values(
                sections=list(sections),
                frequency=frequency.value,
                timezone=timezone,
                hour=hour,
                languages=list(languages) or None,
                updated_at=now,
            )
        )
        with self.db.writing() as conn:
            return conn.execute(change).rowcount == 1

    def delivery_groups(self) -> list[tuple[str | None, int | None]]:
        """The (zone, hour) pairs of the confirmed daily readers: what a scheduler tick
        looks at, a few hundred rows however many readers there are."""
        query = _confirmed_daily(select(subscribers.c.timezone, subscribers.c.hour).distinct())
        with self.db.reading() as conn:
            return [(row.timezone, row.hour) for row in conn.execute(query)]

    def change_marker(self) -> datetime | None:
        """The latest change to any reader (from an index: a tick can ask it every time).
        The same twice means nobody was added or changed in between; a reader removed is
        not seen, and needs not be: their group then has nobody due."""
        query = select(func.max(subscribers.c.updated_at))
        with self.db.reading() as conn:
            return conn.execute(query).scalar_one()

    def any_due(self, timezone: str | None, hour: int | None, local_date: str) -> bool:
        """True when a reader of this (zone, hour) is not yet served on `local_date`."""
        query = _due(select(subscribers.c.id), timezone, hour, local_date).limit(1)
        with self.db.reading() as conn:
            return conn.execute(query).first() is not None

    def due(self, timezone: str | None, hour: int | None, local_date: str) -> Iterator[Subscriber]:
        """The confirmed daily readers of one (zone, hour) not yet served on `local_date`."""
        query = _due(select(subscribers), timezone, hour, local_date).order_by(subscribers.c.id)
        with self.db.engine.connect() as conn:
            for row in conn.execution_options(yield_per=2000).execute(query):
                yield _subscriber(row)

    def remove(self, email: str) -> bool:
        """Delete a subscriber and their delivery records; False if there was none."""
        with self.db.writing() as conn:
            result = conn.execute(delete(subscribers).where(subscribers.c.email == email))
        return result.rowcount == 1


def _due(query: Any, timezone: str | None, hour: int | None, local_date: str) -> Any:
    """Confirmed daily readers of one (zone, hour) not yet served on `local_date`."""
    served = daily_served.c.subscriber_id == subscribers.c.id
    return (
        _confirmed_daily(query.select_from(subscribers.outerjoin(daily_served, served)))
        .where(_is(subscribers.c.timezone, timezone), _is(subscribers.c.hour, hour))
        .where(daily_served.c.local_date.is_(None) | (daily_served.c.local_date < local_date))
    )


def _confirmed_daily(query: Any) -> Any:
    """Only the confirmed readers of the daily digest."""
    return query.where(
        subscribers.c.status == SubscriberStatus.CONFIRMED.value,
        subscribers.c.frequency == Frequency.DAILY.value,
    )


def _is(column: Any, value: object) -> Any:
    return column.is_(None) if value is None else column == value


def _row(new: NewSubscriber, now: datetime) -> dict[str, Any]:
    confirmed = new.status is SubscriberStatus.CONFIRMED
    return {
        "email": new.email,
        "name": new.name,
        "status": new.status.value,
        "sections": list(new.sections),
        "frequency": new.frequency.value,
        "secret": secrets.token_hex(16),
        "created_at": now,
        "confirmed_at": now if confirmed else None,
        "updated_at": now,
        "timezone": new.timezone,
        "hour": new.hour,
        "languages": list(new.languages) or None,
    }


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        name=row.name,
        status=SubscriberStatus(row.status),
        sections=tuple(row.sections),
        frequency=Frequency(row.frequency),
        secret=row.secret,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        timezone=row.timezone,
        hour=row.hour,
        languages=tuple(row.languages or ()),
    )
