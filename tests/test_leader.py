"""One scheduler leader per database: the lease in the store (SQLite and PostgreSQL), and two
real `publisher run` processes on one PostgreSQL database, the leader killed mid-way."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from publisher.store import Store
from publisher.store.leases import LeaseStore

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
RUN = [sys.executable, "-m", "publisher", "--config", "settings.toml", "run"]


def test_a_lease_has_one_holder_until_it_expires(store: Store) -> None:
    leases = store.leases
    assert leases.acquire("scheduler", "a", now=NOW, until=NOW + LEASE)
    assert not leases.acquire("scheduler", "b", now=NOW + timedelta(seconds=5), until=NOW + LEASE)
    assert leases.acquire("scheduler", "a", now=NOW + timedelta(seconds=10), until=NOW + 2 * LEASE)
    # Expired: b takes it, and a cannot renew what it lost.
    later = NOW + 2 * LEASE + timedelta(seconds=1)
    assert leases.acquire("scheduler", "b", now=later, until=later + LEASE)
    assert not leases.acquire("scheduler", "a", now=later, until=later + LEASE)
    held = leases.holder("scheduler")
    assert held is not None and held.owner == "b" and held.acquired_at == later
    assert not leases.release("scheduler", "a")
    assert leases.release("scheduler", "b") and leases.holder("scheduler") is None
    assert leases.acquire("scheduler", "a", now=later, until=later + LEASE)
    assert leases.acquire("other", "b", now=later, until=later + LEASE)  # names are apart


def test_processes_asking_at_once_get_one_lease(store_url: str) -> None:
    stores = [Store.open(store_url) for _ in range(8)]
    stores[0].leases.acquire("scheduler", "old", now=NOW, until=NOW + LEASE)
    later = NOW + 2 * LEASE
    start = threading.Barrier(len(stores))
    won: list[str] = []

    def ask(n: int, leases: LeaseStore) -> None:
        start.wait()
        if leases.acquire("scheduler", f"p{n}", now=later, until=later + LEASE):
            won.append(f"p{n}")

    with ThreadPoolExecutor(len(stores)) as pool:
        asked = [pool.submit(ask, n, s.leases) for n, s in enumerate(stores)]
        for each in asked:
            each.result()  # an error in any of them fails the test
    holder = stores[0].leases.holder("scheduler")
    for opened in stores:
        opened.close()
    assert len(won) == 1 and holder is not None and holder.owner == won[0]


# -- two `publisher run` on one PostgreSQL database ----------------------------------------


class Run:
    """A `publisher run` in its own process group, its output in a file."""

    def __init__(self, folder: Path, name: str) -> None:
        self.log = folder / f"{name}.log"
        env = {**os.environ, "PUBLISHER_SECRET_KEY": "leader-test-secret-0123456789"}
        env.pop("PUBLISHER_DATABASE_URL", None)
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [*RUN, "--port", "0", "--workers", "0"],
                cwd=folder,
                env={**env, "PYTHONUNBUFFERED": "1"},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def leads(self) -> bool:
        return "scheduler leader now" in self.text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def wait_for(condition: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - started


def test_two_runs_on_one_database_schedule_once_and_the_second_takes_over(
    project: Path, postgres_url: str
) -> None:
    settings = (project / "settings.toml").read_text(encoding="utf-8")
    settings = settings.replace('url = "sqlite:///var/publisher.db"', f'url = "{postgres_url}"')
    settings = re.sub(r'(?m)^daily = "[^"]*"', 'daily = "* * * * *"\nweekly = ""', settings)
    assert postgres_url in settings and 'daily = "* * * * *"' in settings  # both replaced
    settings += "\n[schedule]\nleader_lease_seconds = 3\n"
    (project / "settings.toml").write_text(settings, encoding="utf-8")
    first = Run(project, "first")
    try:
        wait_for(first.leads, 60, "the first run to lead")
        second = Run(project, "second")
        try:
            wait_for(lambda: "is running: open" in second.text(), 60, "the second to serve")
            wait_for(lambda: "edition due key=daily:" in first.text(), 60, "the edition")
            time.sleep(3)  # a few renewals: the second must stay in standby
            assert not second.leads()
            assert "gathered" not in second.text() and "edition due" not in second.text()
            os.killpg(first.process.pid, signal.SIGKILL)  # the leader's machine dies
            first.process.wait(10)
            took = wait_for(second.leads, 15, "the second run to take over")
            assert took < 3 + 1 + 1.5  # the lease, one renewal period, some slack
            wait_for(lambda: "edition due key=daily:" in second.text(), 60, "the catch-up")
        finally:
            second.stop()
    finally:
        first.stop()
    store = Store.open(postgres_url)
    try:
        found = store.editions.history(10)
    finally:
        store.close()
    assert [item.edition.kind.value for item in found] == ["daily"]  # one edition in all
    assert "created=False" in second.text()
