"""Delivery: claimed rows sent through a transport and recorded, so that no reader is skipped
and none gets a message twice unless it was in flight when the sender died.

One thread runs the loop: claim a batch of ready rows (under a lease), compose their messages,
hand them to `transport.connections` sender threads, and record results as they come (a
group commit of whatever finished since the last one). A message is handed to a thread only
while fewer than `connections` messages are sent but not yet recorded, so a kill at any moment
repeats at most that many. The same loop serves `publisher send` (one edition) and
`publisher worker` (every edition being sent), in any number of processes.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from threading import Event

from publisher.delivery.budget import ErrorBudget
from publisher.delivery.transports import (
    Outgoing,
    PermanentFailure,
    RecipientRefused,
    TemporaryFailure,
    Transport,
)
from publisher.digest.compose import Composed, Composer
from publisher.models import Claimed, DeliveryState, EditionStatus, Result
from publisher.settings import DeliverySettings
from publisher.store import DeliveryStore, LeaseStore

log = logging.getLogger(__name__)
_MAX_BACKOFF = timedelta(hours=12)
_POLL = 2.0  # seconds between looks for work when there is none
_SHARE = 1.0  # seconds between counts of the processes sharing the SMTP rate
_GATHER = 0.003  # seconds to wait for more results to record in one commit
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


def new_owner() -> str:
    """A name for this process (a sender, a scheduler), unique among all processes on all
    machines: host, pid, a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(kw_only=True)
class DeliveryReport:
    """What one run of the loop did, counted by outcome."""

    states: dict[DeliveryState, int] = field(default_factory=dict)
    paused: dict[int, str] = field(default_factory=dict)  # edition id → why
    done: list[int] = field(default_factory=list)  # editions finished by this run
    stopped: bool = False  # asked to stop before the work was done

    def count(self, state: DeliveryState) -> int:
        """How many rows this run took to `state`."""
        return self.states.get(state, 0)

    @property
    def handled(self) -> int:
        """Rows this run finished or put off."""
        return sum(self.states.values())


class Deliverer:
    """Sends the ready rows of editions that are sending, through one transport."""

    def __init__(
        self,
        deliveries: DeliveryStore,
        composer: Composer,
        transport: Transport,
        settings: DeliverySettings,
        *,
        owner: str | None = None,
        clock: Clock = utc_now,
        senders: LeaseStore | None = None,
    ) -> None:
        """`senders`: where the processes sending at once count themselves, so that
        `delivery.smtp.rate` holds for all of them together (without: for this one)."""
        self.deliveries = deliveries
        self.senders = senders
        self.composer = composer
        self.transport = transport
        self.settings = settings
        self.owner = owner or new_owner()
        self.clock = clock
        self.sender = composer.sender

    def run(
        self,
        *,
        edition_id: int | None = None,
        stop: Event | None = None,
        wait: bool = True,
        on_results: Callable[[list[Result]], None] = lambda results: None,
    ) -> DeliveryReport:
        """Deliver until the edition (or, without `edition_id`, every sending edition) has
        no row left to try, or `stop` is set. `wait`: wait for deferred rows to come due
        (and, without an edition, for new work); otherwise return when nothing is ready."""
        run = _Run(self, edition_id, stop or Event(), on_results)
        with ThreadPoolExecutor(self.transport.connections, thread_name_prefix="send") as pool:
            try:
                run.loop(pool, wait=wait)
            finally:
                run.finish()
        return run.report

    def send_one(self, row: Claimed, composed: Composed) -> Result:
        """Hand one message to the transport and say what became of it (any thread)."""
        message = Outgoing(
            sender=self.sender,
            recipient=composed.recipient,
            data=composed.data,
            message_id=row.message_id,
        )
        try:
            self.transport.send(message)
        except RecipientRefused as exc:
            return Result(
                id=row.id,
                state=DeliveryState.BOUNCED,
                error=str(exc),
                subscriber_id=row.subscriber_id,
            )
        except PermanentFailure as exc:
            return Result(id=row.id, state=DeliveryState.FAILED, error=str(exc))
        except TemporaryFailure as exc:
            return self.retry(row, str(exc))
        except Exception as exc:  # a bug in a transport must not lose the message
            log.exception("transport error row=%d message_id=%s", row.id, row.message_id)
            return self.retry(row, f"unexpected {type(exc).__name__}: {exc}")
        return Result(id=row.id, state=DeliveryState.SENT)

    def retry(self, row: Claimed, error: str) -> Result:
        """A temporary failure: deferred with backoff, or failed after the last attempt."""
        attempt = row.attempts + 1
        if attempt > self.settings.retries:
            return Result(
                id=row.id,
                state=DeliveryState.FAILED,
                error=f"gave up after {attempt} attempts: {error}",
            )
        wait = timedelta(seconds=self.settings.retry_seconds * 2**row.attempts)
        return Result(
            id=row.id,
            state=DeliveryState.DEFERRED,
            error=error,
            retry_at=self.clock() + min(wait, _MAX_BACKOFF),
        )


class _Run:
    """The state of one run: rows claimed but not handed over, messages in flight, and the
    results waiting to be recorded."""

    def __init__(
        self,
        deliverer: Deliverer,
        edition_id: int | None,
        stop: Event,
        on_results: Callable[[list[Result]], None],
    ) -> None:
        self.d = deliverer
        self.edition_id = edition_id
        self.stop = stop
        self.on_results = on_results
        self.report = DeliveryReport()
        self.buffer: deque[Composed] = deque()
        self.in_flight = 0
        self.finished: queue.SimpleQueue[tuple[Composed, Future[Result]]] = queue.SimpleQueue()
        self.budgets: dict[int, ErrorBudget] = {}
        self.claimed_at = 0.0
        self.held: set[int] = set()  # claimed and not yet recorded
        self.shared_at: float | None = None  # when this process last counted the senders

    # -- the loop -----------------------------------------------------------------------

    def loop(self, pool: ThreadPoolExecutor, *, wait: bool) -> None:
        while not self.stop.is_set():
            self._hand_over(pool)
            if self.in_flight:
                self._record(self._collect(block=True))
                self._keep_leases()
                continue
            if not self._idle(wait=wait):
                return
        self.report.stopped = True

    def _hand_over(self, pool: ThreadPoolExecutor) -> None:
        """Give messages to the sender threads while fewer than `connections` are unrecorded."""
        ready: list[tuple[Composed, Result]] = []
        while self.in_flight < self.d.transport.connections and not self.stop.is_set():
            if not self.buffer and not self._claim():
                break
            composed = self.buffer.popleft()
            if composed.skip or composed.error:
                ready.append((composed, _not_sent(composed)))
                continue
            self._share_rate()
            future = pool.submit(self.d.send_one, composed.row, composed)
            self.in_flight += 1
            future.add_done_callback(lambda done, c=composed: self.finished.put((c, done)))
        self._record(ready)

    def _claim(self) -> bool:
        now = self.d.clock()
        rows = self.d.deliveries.claim(
            owner=self.d.owner,
            limit=self.d.settings.batch,
            lease_until=now + timedelta(seconds=self.d.settings.lease_seconds),
            now=now,
            edition_id=self.edition_id,
        )
        if not rows:
            return False
        self.claimed_at = time.monotonic()
        self.held.update(row.id for row in rows)
        self.buffer.extend(self.d.composer.compose(rows))
        return True

    def _collect(self, *, block: bool) -> list[tuple[Composed, Result]]:
        """Results that came in. With `block`: wait for one, then up to a few milliseconds
        for half of those in flight, so that one commit records several (the other half
        keep their connections busy meanwhile)."""
        got: list[tuple[Composed, Result]] = []
        wanted = max(1, self.in_flight // 2) if block else 0
        deadline = time.monotonic() + _GATHER
        while True:
            try:
                if len(got) < wanted:
                    # Waiting for the first: in slices, keeping this process's place among
                    # the senders (a send held back by the rate can take a while).
                    timeout = deadline - time.monotonic() if got else _SHARE
                    if timeout <= 0:
                        raise queue.Empty
                    composed, future = self.finished.get(timeout=timeout)
                else:
                    composed, future = self.finished.get_nowait()
            except queue.Empty:
                if got or not wanted:
                    break
                self._share_rate()
                continue
            got.append((composed, future.result()))
        self.in_flight -= len(got)
        return got

    def _record(self, pairs: list[tuple[Composed, Result]]) -> None:
        if not pairs:
            return
        results = [result for _, result in pairs]
        self.d.deliveries.record(self.d.owner, results, now=self.d.clock())
        for composed, result in pairs:
            self.held.discard(result.id)
            self.report.states[result.state] = self.report.count(result.state) + 1
            _log_result(result, composed.row)
        self.on_results(results)
        self._check_budgets(pairs)

    # -- errors, leases, waiting --------------------------------------------------------

    def _check_budgets(self, pairs: list[tuple[Composed, Result]]) -> None:
        settings = self.d.settings
        for composed, result in pairs:
            if result.state is DeliveryState.SUPPRESSED:
                continue
            edition = composed.row.edition_id
            budget = self.budgets.setdefault(
                edition, ErrorBudget(settings.error_window, settings.error_ratio)
            )
            over = budget.add(failed=result.state is not DeliveryState.SENT, error=result.error)
            if over and edition not in self.report.paused:
                self._pause(edition, budget.reason())

    def _pause(self, edition_id: int, reason: str) -> None:
        self.d.deliveries.set_status(
            edition_id, EditionStatus.PAUSED, reason=reason, only_from=[EditionStatus.SENDING]
        )
        self.report.paused[edition_id] = reason
        log.warning("edition paused edition_id=%d: %s", edition_id, reason)
        kept = deque(c for c in self.buffer if c.row.edition_id != edition_id)
        self._release([c.row.id for c in self.buffer if c.row.edition_id == edition_id])
        self.buffer = kept
        if self.edition_id == edition_id:
            self.stop.set()

    def _release(self, ids: list[int]) -> None:
        if ids:
            self.d.deliveries.release(self.d.owner, ids, now=self.d.clock())
            self.held.difference_update(ids)

    def _keep_leases(self) -> None:
        """Extend the leases of held rows once a third of the lease has gone by."""
        if time.monotonic() - self.claimed_at < self.d.settings.lease_seconds / 3:
            return
        until = self.d.clock() + timedelta(seconds=self.d.settings.lease_seconds)
        self.d.deliveries.extend(self.d.owner, sorted(self.held), lease_until=until)
        self.claimed_at = time.monotonic()

    def _share_rate(self) -> None:
        """While sending: hold a place among the senders and take a share of the rate, so
        `delivery.smtp.rate` holds for every process sending at once. Counted every few
        seconds, while it sends or waits for a send; a place lasts ten counts (clocks a few
        seconds apart still agree), so a process that died stops counting soon."""
        senders = self.d.senders
        if senders is None or not self.d.settings.smtp.rate:
            return
        if self.shared_at is not None and time.monotonic() - self.shared_at < _SHARE:
            return
        now = self.d.clock()
        until = now + timedelta(seconds=10 * _SHARE)
        parts = senders.share("sender", self.d.owner, now=now, until=until)
        self.d.transport.share_rate(parts)
        self.shared_at = time.monotonic()

    def _leave_senders(self) -> None:
        """Not sending (idle, or finished): the others take this process's share."""
        if self.d.senders is not None and self.shared_at is not None:
            self.d.senders.leave("sender", self.d.owner)
            self.shared_at = None

    def _idle(self, *, wait: bool) -> bool:
        """Nothing to send right now: finish what is done, then wait for more (True) or
        end the run (False)."""
        self._leave_senders()
        editions = (
            [self.edition_id]
            if self.edition_id is not None
            else self.d.deliveries.sending_editions()
        )
        now = self.d.clock()
        due: list[datetime] = []
        for edition_id in editions:
            if self.d.deliveries.finish_if_done(edition_id):
                if edition_id not in self.report.done:
                    self.report.done.append(edition_id)
                continue
            status, _ = self.d.deliveries.status(edition_id)
            next_due = self.d.deliveries.next_due(edition_id, now=now)
            if status is EditionStatus.SENDING and next_due is not None:
                due.append(next_due)
        if self.edition_id is not None and not due:
            return False  # done, paused or cancelled
        if not wait:
            return False
        pause = (min(due) - now).total_seconds() if due else _POLL
        self.stop.wait(min(max(pause, 0.05), _POLL))
        return True

    def finish(self) -> None:
        """Record what is still in flight, give back what was never tried."""
        while self.in_flight:
            self._record(self._collect(block=True))
        self._release([c.row.id for c in self.buffer])
        self.buffer.clear()
        self._leave_senders()


def _not_sent(composed: Composed) -> Result:
    if composed.skip:
        return Result(id=composed.row.id, state=DeliveryState.SUPPRESSED, error=composed.skip)
    return Result(id=composed.row.id, state=DeliveryState.FAILED, error=composed.error)


def _log_result(result: Result, row: Claimed) -> None:
    where = f"row={result.id} message_id={row.message_id}"
    if result.state is DeliveryState.SENT:
        log.debug("sent %s", where)
    elif result.state is DeliveryState.DEFERRED:
        log.info("deferred %s until %s: %s", where, result.retry_at, result.error)
    else:
        log.warning("%s %s: %s", result.state.value, where, result.error)
