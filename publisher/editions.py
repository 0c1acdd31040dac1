"""Editions: their keys, creating them (once), and what each subscriber was already sent."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from publisher.errors import PublisherError
from publisher.models import Article, Edition, EditionKind
from publisher.schema import articles, deliveries, edition_variants, editions
from publisher.store import Store, article_from_row

FAILED = "failed"


class EditionExists(PublisherError):
    """An edition with this key was already created (by this process or another)."""


def edition_key(kind: EditionKind, moment: datetime, zone: tzinfo) -> str:
    """`daily:2026-11-28`, `weekly:2026-W48` or `manual:2026-11-28T14:05:09`, in the site's zone."""
    local = moment.astimezone(zone)
    if kind is EditionKind.DAILY:
        return f"daily:{local:%Y-%m-%d}"
    if kind is EditionKind.WEEKLY:
        year, week, _ = local.isocalendar()
        return f"weekly:{year}-W{week:02d}"
    return f"manual:{local:%Y-%m-%dT%H:%M:%S}"


def new_edition(kind: EditionKind, now: datetime, zone: tzinfo) -> Edition:
    """An edition of this kind for `now` (not stored yet)."""
    return Edition(key=edition_key(kind, now, zone), kind=kind, cutoff=now)


def variant_fingerprint(article_ids: Iterable[str]) -> str:
    """The identity of a variant: its articles, in order."""
    return hashlib.sha256("\x1f".join(article_ids).encode()).hexdigest()


class EditionStore:
    """Editions, their variants, and the articles each subscriber has been sent."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, edition: Edition, *, now: datetime) -> Edition:
        """Store a new edition; EditionExists if its key is taken (the database enforces it)."""
        values = {
            "key": edition.key,
            "kind": edition.kind.value,
            "cutoff": edition.cutoff,
            "created_at": now,
        }
        try:
            with self.store.writing() as conn:
                new_id = conn.execute(insert(editions).values(values)).inserted_primary_key[0]
        except IntegrityError:
            raise EditionExists(f"edition {edition.key} already exists") from None
        return Edition(key=edition.key, kind=edition.kind, cutoff=edition.cutoff, id=new_id)

    def candidates(
        self, *, since: datetime, cutoff: datetime
    ) -> list[tuple[Article, datetime, datetime]]:
        """(article, when it became visible, when it became public) for published articles
        that became visible, by being gathered or by their date arriving, between `since`
        and `cutoff`; newest first."""
        public = func.coalesce(articles.c.visible_since, articles.c.first_seen)
        query = (
            select(articles, public.label("public_since"))
            .where(articles.c.draft.is_(False))
            .where(articles.c.published <= cutoff)
            .where((public >= since) | (articles.c.published >= since))
            .order_by(articles.c.published.desc(), articles.c.id)
        )
        with self.store.engine.begin() as conn:
            rows = conn.execute(query).all()
        return [
            (
                article_from_row(row),
                max(_aware(row.public_since), row.published),
                _aware(row.public_since),
            )
            for row in rows
        ]

    def save_variant(self, edition: Edition, fingerprint: str, article_ids: list[str]) -> int:
        """Store a variant of an edition (once; the same fingerprint returns the same id)."""
        assert edition.id is not None, "store the edition first"
        query = select(edition_variants.c.id).where(
            (edition_variants.c.edition_id == edition.id)
            & (edition_variants.c.fingerprint == fingerprint)
        )
        with self.store.writing() as conn:
            found = conn.execute(query).scalar()
            if found is not None:
                return int(found)
            values = {
                "edition_id": edition.id,
                "fingerprint": fingerprint,
                "article_ids": article_ids,
            }
            return int(
                conn.execute(insert(edition_variants).values(values)).inserted_primary_key[0]
            )

    def add_delivery(
        self,
        edition: Edition,
        subscriber_id: int,
        variant_id: int,
        *,
        message_id: str,
        state: str,
        now: datetime,
    ) -> None:
        """Record one subscriber's message of an edition (unique per edition and subscriber)."""
        values = {
            "edition_id": edition.id,
            "subscriber_id": subscriber_id,
            "variant_id": variant_id,
            "state": state,
            "attempts": 0,
            "message_id": message_id,
            "created_at": now,
            "updated_at": now,
        }
        with self.store.writing() as conn:
            conn.execute(insert(deliveries).values(values))

    def sent_earlier(self, article_ids: set[str], *, before: datetime) -> dict[int, set[str]]:
        """subscriber id → which of these articles they were sent in editions before `before`.

        For articles public long before an edition's window (re-dated since): the variants
        that carried them are found, then only the deliveries of those variants are read."""
        variants_query = (
            select(edition_variants.c.id, edition_variants.c.article_ids)
            .join(editions, editions.c.id == edition_variants.c.edition_id)
            .where(editions.c.cutoff < before)
        )
        sent: dict[int, set[str]] = defaultdict(set)
        with self.store.engine.begin() as conn:
            carried = {
                row.id: shared
                for row in conn.execute(variants_query)
                if (shared := article_ids.intersection(row.article_ids))
            }
            for start in range(0, len(carried), 500):
                chunk = list(carried)[start : start + 500]
                query = select(deliveries.c.subscriber_id, deliveries.c.variant_id).where(
                    deliveries.c.variant_id.in_(chunk) & (deliveries.c.state != FAILED)
                )
                for row in conn.execute(query):
                    sent[row.subscriber_id].update(carried[row.variant_id])
        return sent

    def sent(self, *, since: datetime) -> dict[int, set[str]]:
        """subscriber id → ids of the articles in editions since `since` that were not failures."""
        variants_query = (
            select(edition_variants.c.id, edition_variants.c.article_ids)
            .join(editions, editions.c.id == edition_variants.c.edition_id)
            .where(editions.c.cutoff >= since)
        )
        deliveries_query = (
            select(deliveries.c.subscriber_id, deliveries.c.variant_id)
            .join(editions, editions.c.id == deliveries.c.edition_id)
            .where(editions.c.cutoff >= since)
            .where(deliveries.c.state != FAILED)
        )
        sent: dict[int, set[str]] = defaultdict(set)
        with self.store.engine.begin() as conn:
            variants = {row.id: row.article_ids for row in conn.execute(variants_query)}
            for row in conn.execute(deliveries_query):
                sent[row.subscriber_id].update(variants[row.variant_id])
        return sent


def _aware(moment: datetime) -> datetime:
    # coalesce() loses the column type, so SQLite hands back a naive (UTC) value or a string.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def lookback(kind: EditionKind, days: int) -> timedelta:
    """How far back an edition looks for articles a subscriber has not had (a week and a day
    at least for a weekly one)."""
    return timedelta(days=max(days, 8) if kind is EditionKind.WEEKLY else days)
