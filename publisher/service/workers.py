"""The delivery workers `publisher run` keeps alive: `publisher worker` child processes.

Each is started fresh (a new interpreter, never a fork of this threaded process), restarted
with a growing wait when it dies, and on shutdown sent SIGTERM so it finishes and records
the messages in flight before it exits."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)
_FIRST_WAIT = 1.0  # seconds before restarting a worker that died; doubles up to a minute
_LONGEST_WAIT = 60.0


class WorkerPool:
    """`count` copies of `command`, supervised by one thread."""

    def __init__(self, command: Sequence[str], count: int, *, stop_timeout: float = 60.0) -> None:
        self.command = list(command)
        self.count = count
        self.stop_timeout = stop_timeout
        self._processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self._waits = [_FIRST_WAIT] * count
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name="workers", daemon=True)

    def start(self) -> None:
        """Start the workers and their supervisor."""
        for slot in range(self.count):
            self._spawn(slot)
        self._thread.start()

    @property
    def pids(self) -> list[int]:
        """The process ids of the workers now running."""
        with self._lock:
            return [p.pid for p in self._processes if p is not None and p.poll() is None]

    def _spawn(self, slot: int) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            process = subprocess.Popen(self.command)
            self._processes[slot] = process
        log.info("worker started slot=%d pid=%d", slot, process.pid)

    def _supervise(self) -> None:
        while not self._stopping.wait(0.5):
            for slot, process in enumerate(list(self._processes)):
                if process is None or process.poll() is None:
                    continue
                wait = self._waits[slot]
                log.error(
                    "worker exited slot=%d pid=%d code=%s; restarting in %.0fs",
                    slot,
                    process.pid,
                    process.returncode,
                    wait,
                )
                if self._stopping.wait(wait):
                    return
                self._waits[slot] = min(wait * 2, _LONGEST_WAIT)
                self._spawn(slot)

    def stop(self) -> None:
        """SIGTERM every worker and wait for them to record what they were sending (SIGKILL
        after `stop_timeout`: the rows they held are claimed again when their lease ends)."""
        self._stopping.set()
        with self._lock:
            running = [p for p in self._processes if p is not None and p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for process in running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.error("worker pid=%d did not stop in time: killed", process.pid)
                process.kill()
                process.wait()
        if self._thread.is_alive():
            self._thread.join()
        log.info("workers stopped count=%d", len(running))
