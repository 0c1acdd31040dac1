"""Delivery rows: claimed in batches under a lease, their results recorded, editions' status.

A row moves queued → sending (claimed, with a lease owner and expiry) → sent, deferred (to be
tried again at next_attempt_at), failed, bounced or suppressed. A row whose lease ran out
(its sender died) is ready again, so nothing is lost; only rows in flight at a crash can go
out twice. Claiming is atomic: `FOR UPDATE SKIP LOCKED` on PostgreSQL, one UPDATE … RETURNING
under SQLite's write lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, update

from publisher.models import Claimed, DeliveryState, EditionStatus, Result, SubscriberStatus
from publisher.store.db import Database, chunks
from publisher.store.schema import deliveries, editions, subscribers

_QUEUED, _SENDING, _DEFERRED = DeliveryState.QUEUED, DeliveryState.SENDING, DeliveryState.DEFERRED
OPEN = [_QUEUED.value, _SENDING.value, _DEFERRED.value]  # states of a row not yet finished


class DeliveryStore:
    """Claims, results and progress of the deliveries of editions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(
        self,
        *,
        owner: str,
        limit: int,
        lease_until: datetime,
        now: datetime,
        edition_id: int | None = None,
    ) -> list[Claimed]:
        """Claim up to `limit` rows that are ready (queued; deferred and due; or sending with
        an expired lease) of editions that are sending, in order. `attempts` counts the
        attempts recorded before: a claim by a sender that died never used one up."""
        ready = or_(
            deliveries.c.state == _QUEUED.value,
            and_(deliveries.c.state == _DEFERRED.value, deliveries.c.next_attempt_at <= now),
            and_(deliveries.c.state == _SENDING.value, deliveries.c.lease_until < now),
        )
        sending = select(editions.c.id).where(editions.c.status == EditionStatus.SENDING.value)
        if edition_id is not None:
            sending = sending.where(editions.c.id == edition_id)
        chosen = (
            select(deliveries.c.id)
            .where(ready, deliveries.c.edition_id.in_(sending))
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        with self.db.writing() as conn:
            if conn.dialect.name == "postgresql":
                chosen = chosen.with_for_update(skip_locked=True, of=deliveries)
            claim = (
                update(deliveries)
                .where(deliveries.c.id.in_(chosen.scalar_subquery()))
                .values(
                    state=_SENDING.value,
                    lease_owner=owner,
                    lease_until=lease_until,
                    updated_at=now,
                )
                .returning(*_CLAIMED)
            )
            rows = conn.execute(claim).all()
        return sorted((_claimed(row) for row in rows), key=lambda row: row.id)

    def record(self, owner: str, results: Sequence[Result], *, now: datetime) -> None:
        """Record what became of claimed rows (only those this owner still holds), and
        suppress the subscribers of bounced ones; one transaction."""
        if not results:
            return
        rows = [
            {
                "row": r.id,
                "owner": owner,
                "state": r.state.value,
                "now": now,
                "error": r.error or None,
                "retry_at": r.retry_at,
                "sent_at": now if r.state is DeliveryState.SENT else None,
            }
            for r in results
        ]
        with self.db.writing() as conn:
            for chunk in chunks(rows):
                conn.execute(_RECORD, chunk)
            bounced = [r.subscriber_id for r in results if r.state is DeliveryState.BOUNCED]
            if bounced:
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.id.in_([i for i in bounced if i is not None]))
                    .values(status=SubscriberStatus.BOUNCED.value, updated_at=now)
                )

    def extend(self, owner: str, ids: Sequence[int], *, lease_until: datetime) -> int:
        """Extend the lease of rows this owner still holds; how many it holds."""
        held = 0
        with self.db.writing() as conn:
            for chunk in chunks(list(ids)):
                held += conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(chunk), _held_by(owner))
                    .values(lease_until=lease_until)
                ).rowcount
        return held

    def release(self, owner: str, ids: Sequence[int], *, now: datetime) -> None:
        """Give back claimed rows that were not tried (a stop, a pause): ready again at once,
        for any sender, with their attempts as they were."""
        with self.db.writing() as conn:
            for chunk in chunks(list(ids)):
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(chunk), _held_by(owner))
                    .values(
                        state=case(
                            (deliveries.c.attempts > 0, _DEFERRED.value), else_=_QUEUED.value
                        ),
                        lease_owner=None,
                        lease_until=None,
                        updated_at=now,
                    )
                )

    def counts(self, edition_id: int) -> dict[DeliveryState, int]:
        """An edition's rows counted by state."""
        query = (
            select(deliveries.c.state, func.count())
            .where(deliveries.c.edition_id == edition_id)
            .group_by(deliveries.c.state)
        )
        with self.db.reading() as conn:
            found = {DeliveryState(state): n for state, n in conn.execute(query)}
        return {state: found.get(state, 0) for state in DeliveryState}

    def next_due(self, edition_id: int, *, now: datetime) -> datetime | None:
        """When the earliest open row of an edition can be tried: `now` for a queued row,
        its retry time for a deferred one, its lease's end for a claimed one (None: no row
        of the edition is open)."""
        state = deliveries.c.state
        query = select(
            func.count().filter(state == _QUEUED.value),
            func.min(deliveries.c.next_attempt_at).filter(state == _DEFERRED.value),
            func.min(deliveries.c.lease_until).filter(state == _SENDING.value),
        ).where(deliveries.c.edition_id == edition_id, state.in_(OPEN))
        with self.db.reading() as conn:
            queued, retry, lease = conn.execute(query).one()
        if queued:
            return now
        times = [moment for moment in (retry, lease) if moment is not None]
        return min(times) if times else None

    def set_status(
        self,
        edition_id: int,
        status: EditionStatus,
        *,
        reason: str = "",
        only_from: Iterable[EditionStatus] | None = None,
    ) -> bool:
        """Set an edition's status (only from one of `only_from`); True if it was set."""
        change = update(editions).where(editions.c.id == edition_id)
        if only_from is not None:
            change = change.where(editions.c.status.in_([s.value for s in only_from]))
        with self.db.writing() as conn:
            result = conn.execute(change.values(status=status.value, status_reason=reason))
        return result.rowcount == 1

    def cancel(
        self, edition_id: int, *, reason: str, only_from: Iterable[EditionStatus], now: datetime
    ) -> bool:
        """Cancel the edition (only from one of `only_from`) and, in the same transaction,
        give back its unsent rows (suppressed: they no longer hold those articles from the
        readers, so a later edition carries them). True if it was cancelled."""
        change = (
            update(editions)
            .where(editions.c.id == edition_id)
            .where(editions.c.status.in_([s.value for s in only_from]))
            .values(status=EditionStatus.CANCELLED.value, status_reason=reason)
        )
        unsent = (
            update(deliveries)
            .where(deliveries.c.edition_id == edition_id)
            .where(deliveries.c.state.in_([_QUEUED.value, _DEFERRED.value]))
            .values(state=DeliveryState.SUPPRESSED.value, last_error=reason, updated_at=now)
        )
        with self.db.writing() as conn:
            if conn.execute(change).rowcount != 1:
                return False
            conn.execute(unsent)
        return True

    def status(self, edition_id: int) -> tuple[EditionStatus, str]:
        """An edition's status and why it is so."""
        query = select(editions.c.status, editions.c.status_reason).where(
            editions.c.id == edition_id
        )
        with self.db.reading() as conn:
            status, reason = conn.execute(query).one()
        return EditionStatus(status), reason or ""

    def finish_if_done(self, edition_id: int) -> bool:
        """Mark a sending edition done when no row of it is open; True if it is done."""
        still_open = select(deliveries.c.id).where(
            deliveries.c.edition_id == edition_id, deliveries.c.state.in_(OPEN)
        )
        done = (
            update(editions)
            .where(editions.c.id == edition_id, editions.c.status == EditionStatus.SENDING.value)
            .where(~still_open.exists())
            .values(status=EditionStatus.DONE.value, status_reason="")
        )
        with self.db.writing() as conn:
            changed = conn.execute(done).rowcount == 1
            status = conn.execute(
                select(editions.c.status).where(editions.c.id == edition_id)
            ).scalar_one()
        return changed or status == EditionStatus.DONE.value

    def sending_editions(self) -> list[int]:
        """The ids of the editions being sent, oldest first."""
        query = (
            select(editions.c.id)
            .where(editions.c.status == EditionStatus.SENDING.value)
            .order_by(editions.c.id)
        )
        with self.db.reading() as conn:
            return list(conn.execute(query).scalars())


_CLAIMED = (
    deliveries.c.id,
    deliveries.c.edition_id,
    deliveries.c.subscriber_id,
    deliveries.c.variant_id,
    deliveries.c.message_id,
    deliveries.c.attempts,
)


def _held_by(owner: str) -> Any:
    return and_(deliveries.c.state == _SENDING.value, deliveries.c.lease_owner == owner)


def _claimed(row: Any) -> Claimed:
    return Claimed(
        id=row.id,
        edition_id=row.edition_id,
        subscriber_id=row.subscriber_id,
        variant_id=row.variant_id,
        message_id=row.message_id,
        attempts=row.attempts,
    )


# One statement for every outcome, built once: recording runs after every few messages, and
# building and compiling an UPDATE each time cost more than the write itself.
_RECORD = (
    update(deliveries)
    .where(
        deliveries.c.id == bindparam("row"),
        deliveries.c.state == _SENDING.value,
        deliveries.c.lease_owner == bindparam("owner"),
    )
    .values(
        state=bindparam("state"),
        lease_owner=None,
        lease_until=None,
        updated_at=bindparam("now"),
        attempts=deliveries.c.attempts + 1,
        last_error=func.coalesce(bindparam("error"), deliveries.c.last_error),  # kept when sent
        next_attempt_at=bindparam("retry_at"),
        sent_at=bindparam("sent_at"),
    )
)
