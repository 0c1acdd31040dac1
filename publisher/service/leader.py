"""One scheduler leader among the `publisher run` processes of a database.

Every process runs the scheduler, but its jobs do their work only while it holds the
`scheduler` lease; a process that becomes leader first catches up (gather, missed editions).
Correctness never rests on the lease alone: editions are keyed, gathers idempotent, so two
leaders for a moment (a paused process whose lease ran out) cost work, not mail."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from publisher.delivery.deliver import new_owner
from publisher.store.leases import SCHEDULER as LEASE
from publisher.store.leases import LeaseStore

log = logging.getLogger(__name__)


class Leadership:
    """This process's claim on the scheduler lease, renewed by `check`."""

    def __init__(
        self,
        leases: LeaseStore,
        lease: timedelta,
        clock: Callable[[], datetime],
        *,
        owner: str | None = None,
    ) -> None:
        self.leases = leases
        self.lease = lease
        self.clock = clock
        self.owner = owner or new_owner()
        self._until: datetime | None = None
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        """True while this process holds an unexpired lease."""
        return self._until is not None and self.clock() < self._until

    @property
    def renew_every(self) -> float:
        """Seconds between renewals: a third of the lease, so two can fail before it ends."""
        return self.lease.total_seconds() / 3

    def check(self) -> bool:
        """Take or renew the lease; True when this call made this process the leader."""
        with self._lock:
            was = self.held
            now = self.clock()
            try:
                got = self.leases.acquire(LEASE, self.owner, now=now, until=now + self.lease)
            except Exception as exc:  # the database is away: not leader until it is back
                log.error("scheduler lease not renewed owner=%s: %s", self.owner, exc)
                got = False
            self._until = now + self.lease if got else None
            if got and not was:
                log.warning("scheduler leader now owner=%s", self.owner)
            elif was and not got:
                log.warning("scheduler leadership lost owner=%s", self.owner)
            return got and not was

    def release(self) -> None:
        """Give the lease back on shutdown, so another process takes over at once."""
        with self._lock:
            if self._until is not None and self.leases.release(LEASE, self.owner):
                log.warning("scheduler leadership given back owner=%s", self.owner)
            self._until = None
