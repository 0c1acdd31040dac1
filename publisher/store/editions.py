"""Editions in the database: creating them (once), and what each subscriber was already sent."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, literal, select, true

from publisher.models import (
    Article,
    DeliveryState,
    Edition,
    EditionKind,
    EditionProgress,
    EditionRecord,
    EditionStatus,
    PlannedEdition,
)
from publisher.store.articles import article_from_row
from publisher.store.db import (
    Database,
    among,
    chunks,
    dialect_insert,
    id_array,
    lock,
    valid_ids,
)
from publisher.store.schema import (
    articles,
    daily_served,
    deliveries,
    edition_variants,
    editions,
    subscribers,
)

log = logging.getLogger(__name__)
CARRYING = [state.value for state in DeliveryState if state.carries]


class EditionStore:
    """Editions, their variants, and the articles each subscriber has been sent."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self, edition: Edition, plan: Callable[[], EditionRecord], *, now: datetime
    ) -> PlannedEdition:
        """Plan an edition into the database once: the edition, its variants and a queued
        delivery per recipient, written in one transaction.

        The planning lock is held from before `plan` runs until the rows are committed, so two
        planners (daily and manual, or two processes) see each other's deliveries and never
        give one reader an article twice. An edition already planned is returned as it was:
        this never fails and never adds rows, so a planner stopped half-way simply runs again.
        """
        with self.db.writing() as conn:
            lock(conn, "plan-editions")
            found = conn.execute(select(editions).where(editions.c.key == edition.key)).first()
            if found is not None:
                return _summary(conn, found, created=False)
            log.info("planning edition key=%s (planning lock held)", edition.key)
            record = plan()
            edition_id = _insert_edition(conn, edition, record, now)
            variant_ids = _insert_variants(conn, edition_id, record)
            _insert_deliveries(conn, edition_id, variant_ids, record, now)
            _mark_served(conn, record)
        log.info(
            "edition planned key=%s variants=%d deliveries=%d skipped=%d",
            edition.key,
            len(record.variants),
            len(record.recipients),
            record.skipped,
        )
        stored = replace(edition, id=edition_id)
        return PlannedEdition(
            edition=stored,
            variants=len(record.variants),
            deliveries=len(record.recipients),
            skipped=record.skipped,
            created=True,
        )

    def get(self, key: str) -> PlannedEdition | None:
        """A planned edition by key, with its counts, or None."""
        with self.db.reading() as conn:
            found = conn.execute(select(editions).where(editions.c.key == key)).first()
            return None if found is None else _summary(conn, found, created=False)

    def by_id(self, edition_id: int) -> Edition | None:
        """An edition by its id, or None."""
        if not valid_ids([edition_id]):
            return None
        with self.db.reading() as conn:
            row = conn.execute(select(editions).where(editions.c.id == edition_id)).first()
        if row is None:
            return None
        return Edition(key=row.key, kind=EditionKind(row.kind), cutoff=row.cutoff, id=row.id)

    def variants(self, edition_id: int) -> dict[int, tuple[str, list[str]]]:
        """An edition's variants: id → (fingerprint, article ids in order)."""
        stored = self.variants_in_languages(edition_id)
        return {variant_id: (fp, ids) for variant_id, (fp, ids, _) in stored.items()}

    def variants_in_languages(self, edition_id: int) -> dict[int, tuple[str, list[str], str]]:
        """An edition's variants: id → (fingerprint, article ids in order, the language of
        its words; empty: the site's)."""
        query = select(
            edition_variants.c.id,
            edition_variants.c.fingerprint,
            edition_variants.c.article_ids,
            edition_variants.c.language,
        ).where(edition_variants.c.edition_id == edition_id)
        with self.db.reading() as conn:
            return {
                row.id: (row.fingerprint, list(row.article_ids), row.language or "")
                for row in conn.execute(query)
            }

    def article_counts(
        self, kind: EditionKind, *, before: int, limit: int, slot: str = ""
    ) -> list[int]:
        """How many distinct articles each of the `limit` editions of `kind` (of the same
        local-morning `slot`, e.g. `T07:00+05:30`, when given) planned before the edition
        `before` carried (cancelled ones left out), newest first."""
        earlier = (
            select(editions.c.id)
            .where(editions.c.kind == kind.value, editions.c.id < before)
            .where(editions.c.status != EditionStatus.CANCELLED.value)
            .where(_of_slot(slot))
            .order_by(editions.c.id.desc())
            .limit(limit)
        )
        found: dict[int, set[str]] = defaultdict(set)
        with self.db.reading() as conn:
            ids = list(conn.execute(earlier).scalars())
            query = select(edition_variants.c.edition_id, edition_variants.c.article_ids)
            for row in conn.execute(query.where(edition_variants.c.edition_id.in_(ids))):
                found[row.edition_id].update(row.article_ids)
        return [len(found[edition_id]) for edition_id in ids]

    def previous(self, edition: Edition, slot: str = "") -> Edition | None:
        """The edition of the same kind (and local-morning `slot`) planned last before this
        one (not a cancelled one)."""
        query = (
            select(editions)
            .where(editions.c.kind == edition.kind.value, editions.c.id < (edition.id or 0))
            .where(editions.c.status != EditionStatus.CANCELLED.value)
            .where(_of_slot(slot))
            .order_by(editions.c.id.desc())
            .limit(1)
        )
        with self.db.reading() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Edition(key=row.key, kind=EditionKind(row.kind), cutoff=row.cutoff, id=row.id)

    def variant_pairs(self, edition_id: int, previous_id: int) -> dict[tuple[int, int | None], int]:
        """Readers of an edition counted by (their variant, their variant in `previous_id`, or
        None when they were not in it)."""
        earlier = deliveries.alias("earlier")
        query = (
            select(deliveries.c.variant_id, earlier.c.variant_id.label("before"), func.count())
            .select_from(
                deliveries.outerjoin(
                    earlier,
                    (earlier.c.subscriber_id == deliveries.c.subscriber_id)
                    & (earlier.c.edition_id == previous_id),
                )
            )
            .where(deliveries.c.edition_id == edition_id)
            .group_by(deliveries.c.variant_id, earlier.c.variant_id)
        )
        with self.db.reading() as conn:
            return {(row[0], row[1]): row[2] for row in conn.execute(query)}

    def history(self, limit: int = 50) -> list[EditionProgress]:
        """The newest editions first, with their deliveries counted by state."""
        newest = select(editions).order_by(editions.c.created_at.desc(), editions.c.id.desc())
        return self._progress_of(newest.limit(limit))

    def progress(self, key: str) -> EditionProgress | None:
        """One edition with its deliveries counted by state, or None."""
        found = self._progress_of(select(editions).where(editions.c.key == key))
        return found[0] if found else None

    def _progress_of(self, query: Any) -> list[EditionProgress]:
        counts = select(
            deliveries.c.edition_id, deliveries.c.state, func.count().label("n")
        ).group_by(deliveries.c.edition_id, deliveries.c.state)
        with self.db.reading() as conn:
            rows = conn.execute(query).all()
            by_state: dict[int, dict[str, int]] = defaultdict(dict)
            ids = [row.id for row in rows]
            for row in conn.execute(counts.where(deliveries.c.edition_id.in_(ids))):
                by_state[row.edition_id][row.state] = row.n
        return [_progress(row, by_state[row.id]) for row in rows]

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
                    deliveries.c.variant_id.in_(chunk) & deliveries.c.state.in_(CARRYING)
                )
                for row in conn.execute(query):
                    sent[row.subscriber_id].update(carried[row.variant_id])
        return sent

    def sent(
        self, *, since: datetime, subscribers: Collection[int] | None = None
    ) -> dict[int, set[str]]:
        """subscriber id → ids of the articles in editions since `since` that they have or will
        have (deliveries queued, in flight, deferred or sent; not failed, bounced or
        suppressed); of the `subscribers` given, or of everyone."""
        variants_query = (
            select(edition_variants.c.id, edition_variants.c.article_ids)
            .join(editions, editions.c.id == edition_variants.c.edition_id)
            .where(editions.c.cutoff >= since)
        )
        # The state is tested here, not in SQL: with it in the query, SQLite reads the
        # deliveries through the state index (every queued one of the day, for each slot)
        # instead of through the subscriber's.
        deliveries_query = (
            select(deliveries.c.subscriber_id, deliveries.c.variant_id, deliveries.c.state)
            .join(editions, editions.c.id == deliveries.c.edition_id)
            .where(editions.c.cutoff >= since)
        )
        if subscribers is None:
            queries = [deliveries_query.where(deliveries.c.state.in_(CARRYING))]
        else:
            dialect = self.db.engine.dialect.name
            readers = among(dialect, deliveries.c.subscriber_id, subscribers)
            queries = [deliveries_query.where(condition) for condition in readers]
        carrying = set(CARRYING)
        sent: dict[int, set[str]] = defaultdict(set)
        with self.db.engine.begin() as conn:
            variants = {row.id: row.article_ids for row in conn.execute(variants_query)}
            for query in queries:
                for row in conn.execute(query):
                    if row.state in carrying:
                        sent[row.subscriber_id].update(variants[row.variant_id])
        return sent


def _aware(moment: datetime) -> datetime:
    # coalesce() loses the column type, so SQLite hands back a naive (UTC) value or a string.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _insert_edition(
    conn: Connection, edition: Edition, record: EditionRecord, now: datetime
) -> int:
    values = {
        "key": edition.key,
        "kind": edition.kind.value,
        "cutoff": edition.cutoff,
        "created_at": now,
        "status": EditionStatus.PLANNED.value,
        "recipients": len(record.recipients),
        "skipped": record.skipped,
    }
    return int(conn.execute(insert(editions).values(values)).inserted_primary_key[0])


def _insert_variants(conn: Connection, edition_id: int, record: EditionRecord) -> dict[str, int]:
    rows = [
        {
            "edition_id": edition_id,
            "fingerprint": fingerprint,
            "article_ids": ids,
            "language": record.languages.get(fingerprint, ""),
        }
        for fingerprint, ids in record.variants.items()
    ]
    for chunk in chunks(rows):
        conn.execute(insert(edition_variants), chunk)
    query = select(edition_variants.c.fingerprint, edition_variants.c.id).where(
        edition_variants.c.edition_id == edition_id
    )
    return {row.fingerprint: row.id for row in conn.execute(query)}


def _insert_deliveries(
    conn: Connection,
    edition_id: int,
    variant_ids: dict[str, int],
    record: EditionRecord,
    now: datetime,
) -> None:
    common: dict[str, Any] = {
        "edition_id": edition_id,
        "state": DeliveryState.QUEUED.value,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    rows = [
        {**common, "subscriber_id": subscriber, "variant_id": variant_ids[fp], "message_id": mid}
        for subscriber, fp, mid in sorted(record.recipients, key=lambda r: (r[1], r[0]))
    ]  # by variant: a sender claiming rows in order finds each variant's rows together
    for chunk in chunks(rows, 5000):
        conn.execute(insert(deliveries), chunk)


def _of_slot(slot: str) -> Any:
    """Editions of one local-morning slot (`T07:00+05:30`), or every edition."""
    return editions.c.key.like(f"%{slot}") if slot else true()


def _mark_served(conn: Connection, record: EditionRecord) -> None:
    """Readers of a local-morning slot: served for its local date (never again that date)."""
    if not record.local_date or not record.served:
        return
    into = dialect_insert(conn)(daily_served)
    for readers in _served_rows(conn, record.served, record.local_date):
        conn.execute(_moved_on(into.from_select(["subscriber_id", "local_date"], readers)))


def _served_rows(conn: Connection, ids: Collection[int], local_date: str) -> list[Any]:
    """(id, local date) for each of the readers `ids` (each once), as few SELECTs as the
    backend allows: an array on PostgreSQL, IN lists on SQLite.

    On PostgreSQL, whose planning lock does not stop deletes, a reader deleted while the slot
    is planned fails the slot's transaction (as their delivery row would); the next tick
    plans it. Joining the array to `subscribers` to leave them out cost a twentieth more
    for a day of slots (bench/global.py), for a race of a fraction of a second a day."""
    date = literal(local_date)
    if conn.dialect.name == "postgresql":
        return [select(func.unnest(id_array(ids)), date)]
    chunks_of = among(conn.dialect.name, subscribers.c.id, ids)
    return [select(subscribers.c.id, date).where(chunk) for chunk in chunks_of]


def _moved_on(upsert: Any) -> Any:
    """The upsert of a served mark: a reader's mark moves to the new date."""
    return upsert.on_conflict_do_update(
        index_elements=[daily_served.c.subscriber_id],
        set_={"local_date": upsert.excluded.local_date},
    )


def _summary(conn: Connection, row: Any, *, created: bool) -> PlannedEdition:
    variants = conn.execute(
        select(func.count()).where(edition_variants.c.edition_id == row.id)
    ).scalar_one()
    edition = Edition(key=row.key, kind=EditionKind(row.kind), cutoff=row.cutoff, id=row.id)
    return PlannedEdition(
        edition=edition,
        variants=variants,
        deliveries=row.recipients,
        skipped=row.skipped,
        created=created,
    )


def _progress(row: Any, counts: dict[str, int]) -> EditionProgress:
    return EditionProgress(
        edition=Edition(key=row.key, kind=EditionKind(row.kind), cutoff=row.cutoff, id=row.id),
        status=EditionStatus(row.status),
        reason=row.status_reason or "",
        created_at=row.created_at,
        recipients=row.recipients,
        skipped=row.skipped,
        states={state: counts.get(state.value, 0) for state in DeliveryState},
    )
