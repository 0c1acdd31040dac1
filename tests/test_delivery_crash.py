"""A real `publisher send` killed with SIGKILL at random moments of a 2,000-reader send, then
started again until it is done: every reader gets the edition, and the only copies sent twice
are messages in flight at a kill (at most the pool size per kill)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from publisher.models import DeliveryState, EditionStatus
from publisher.store import Store
from tests.smtp_server import Faults, Mailbox, smtp_server
from tests.test_plan_safety import SECTIONS, fill

READERS = 2000
CONNECTIONS = 4
KILLS = 4


def project(tmp_path: Path, url: str, port: int) -> Path:
    sections = "".join(
        f'[[sections]]\nslug = "{slug}"\ntitle = "{slug.title()}"\n\n' for slug in SECTIONS
    )
    (tmp_path / "settings.toml").write_text(
        '[site]\nname = "TodayPress"\nurl = "https://todaypress.example"\n\n'
        f'[storage]\nurl = "{url}"\n\n{sections}'
        "[digest]\nrelated_links = 0\n\n"
        # A short lease: a restarted send takes over the dead one's rows soon.
        '[delivery]\ntransport = "smtp"\nlease_seconds = 1.5\nbatch = 100\n\n'
        f'[delivery.smtp]\nhost = "127.0.0.1"\nport = {port}\nconnections = {CONNECTIONS}\n'
        "timeout = 5\n",
        encoding="utf-8",
    )
    return tmp_path


def sender(folder: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PUBLISHER_SECRET_KEY": "crash-test-secret-0123456789"}
    return subprocess.Popen(
        [sys.executable, "-m", "publisher", "send", "--yes", "--json"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_after(process: subprocess.Popen[str], mailbox: Mailbox, more: int) -> int:
    """SIGKILL the process once the server has taken `more` messages since now (or the
    process ended); how many it had taken by then."""
    start = len(mailbox.received)
    deadline = time.monotonic() + 60
    while len(mailbox.received) < start + more and process.poll() is None:
        assert time.monotonic() < deadline, "the send made no progress"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    return len(mailbox.received)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_send_killed_again_and_again_mails_every_reader(backend, tmp_path, request):
    url = (
        f"sqlite:///{tmp_path / 'crash.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    rng = random.Random(20261201)
    with smtp_server(Faults(slow=0.001)) as (port, mailbox):
        folder = project(tmp_path, url, port)
        fill(url, READERS)
        taken = []
        for _ in range(KILLS):  # each kill at a random point of the send
            taken.append(kill_after(sender(folder), mailbox, rng.randint(40, 350)))
        for _ in range(5):  # then until it says it is done
            final = sender(folder)
            out, err = final.communicate(timeout=120)
            if final.returncode == 0:
                break
        assert final.returncode == 0, err
    report = json.loads(out)
    assert report["status"] == EditionStatus.DONE.value
    assert report["deliveries"][DeliveryState.SENT.value] == READERS
    counts = mailbox.counts()
    assert len(counts) == READERS  # every reader, none skipped
    assert taken == sorted(taken) and taken[-1] < READERS  # the kills fell inside the send
    duplicates = mailbox.duplicates()
    assert duplicates <= CONNECTIONS * KILLS, (duplicates, taken)
    store = Store.open(url)
    try:
        with store.db.reading() as conn:
            from sqlalchemy import select

            from publisher.store.schema import deliveries

            states = {row.state for row in conn.execute(select(deliveries.c.state))}
    finally:
        store.close()
    assert states == {"sent"}
