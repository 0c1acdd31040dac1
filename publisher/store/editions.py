"""Editions in the database: creating them (once), and what each subscriber was already sent."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from publisher.errors import PublisherError
from publisher.models import Article, Edition
from publisher.store.articles import article_from_row
from publisher.store.db import Database
from publisher.store.schema import articles, deliveries, edition_variants, editions

FAILED = "failed"


class EditionExists(PublisherError):
    """An edition with this key was already created (by this process or another)."""


class EditionStore:
    """Editions, their variants, and the articles each subscriber has been sent."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, edition: Edition, *, now: datetime) -> Edition:
        """Store a new edition; EditionExists if its key is taken (the database enforces it)."""
        values = {
            "key": edition.key,
            "kind": edition.kind.value,
            "cutoff": edition.cutoff,
            "created_at": now,
        }
        try:
            with self.db.writing() as conn:
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
        with self.db.engine.begin() as conn:
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
        with self.db.writing() as conn:
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
        with self.db.writing() as conn:
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
        with self.db.engine.begin() as conn:
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
        with self.db.engine.begin() as conn:
            variants = {row.id: row.article_ids for row in conn.execute(variants_query)}
            for row in conn.execute(deliveries_query):
                sent[row.subscriber_id].update(variants[row.variant_id])
        return sent


def _aware(moment: datetime) -> datetime:
    # coalesce() loses the column type, so SQLite hands back a naive (UTC) value or a string.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
