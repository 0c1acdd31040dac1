"""Fetching many sources at once: a bounded thread pool, a per-host limit, an overall deadline.

Results are handed back as they arrive, so the caller can store each source's items while the
others are still being fetched; a source still running at the deadline is reported as such.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

from publisher.errors import SourceError

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = TypeVar("Job")


@dataclass(frozen=True, kw_only=True)
class Outcome(Generic[Job, T]):
    """One job's result, or the SourceError that ended it."""

    job: Job
    result: T | None = None
    error: SourceError | None = None


class HostLimiter:
    """At most `limit` requests at a time to one host (no limit for local sources, host "")."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._guard = threading.Lock()
        self._slots: dict[str, threading.Semaphore] = {}

    def slot(self, host: str) -> threading.Semaphore | None:
        """The semaphore of a host, or None for a local source."""
        if not host:
            return None
        with self._guard:
            return self._slots.setdefault(host, threading.BoundedSemaphore(self.limit))


def run_all(
    jobs: Sequence[Job],
    work: Callable[[Job], T],
    *,
    host: Callable[[Job], str],
    where: Callable[[Job], str],
    workers: int,
    per_host: int,
    deadline: float,
) -> Iterator[list[Outcome[Job, T]]]:
    """Run `work` on every job in parallel; yield the outcomes as they finish, all those that
    finished together in one list (in job order), so the caller can store them together.

    A job that raises SourceError yields it; any other exception is a bug in one source and
    is logged with its traceback and reported the same way, so the other sources go on. Jobs
    not finished `deadline` seconds after the start yield a SourceError saying so."""
    limiter = HostLimiter(per_host)
    pool = ThreadPoolExecutor(
        max_workers=max(1, min(workers, len(jobs))), thread_name_prefix="fetch"
    )
    stop = time.monotonic() + deadline
    order = {id(job): index for index, job in enumerate(jobs)}
    pending: dict[Future[T], Job] = {
        pool.submit(_limited, work, job, limiter.slot(host(job))): job
        for job in _interleaved(jobs, host)
    }
    try:
        while pending:
            done, _ = wait(
                pending, timeout=max(0.0, stop - time.monotonic()), return_when=FIRST_COMPLETED
            )
            if not done:
                break
            finished = sorted(done, key=lambda future: order[id(pending[future])])
            yield [_outcome(pending.pop(future), future, where) for future in finished]
        reason = f"not fetched within the deadline of {deadline:g} s (gather.deadline)"
        late = [Outcome(job=job, error=SourceError(where(job), reason)) for job in pending.values()]
        if late:
            yield late
    finally:
        # Queued jobs are dropped; running ones end within their own HTTP timeout.
        pool.shutdown(wait=False, cancel_futures=True)


def _limited(work: Callable[[Job], T], job: Job, slot: threading.Semaphore | None) -> T:
    if slot is None:
        return work(job)
    with slot:
        return work(job)


def _outcome(job: Job, future: Future[T], where: Callable[[Job], str]) -> Outcome[Job, T]:
    try:
        return Outcome(job=job, result=future.result())
    except SourceError as exc:
        return Outcome(job=job, error=exc)
    except Exception as exc:  # a bug in one source must not stop the others
        log.exception("source crashed %s", where(job))
        return Outcome(job=job, error=SourceError(where(job), f"{type(exc).__name__}: {exc}"))


def _interleaved(jobs: Sequence[Job], host: Callable[[Job], str]) -> list[Job]:
    """Jobs in turns by host, so that workers are not all waiting on one host's limit."""
    queues: dict[str, deque[Job]] = defaultdict(deque)
    for job in jobs:
        queues[host(job)].append(job)
    ordered: list[Job] = []
    while queues:
        for key in list(queues):
            ordered.append(queues[key].popleft())
            if not queues[key]:
                del queues[key]
    return ordered
