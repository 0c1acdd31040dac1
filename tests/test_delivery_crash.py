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


def project(
    tmp_path: Path, url: str, port: int, *, lease: float = 1.5, batch: int = 100, timeout: float = 5
) -> Path:
    """Settings for sending every section to the SMTP server on `port`; a short `lease` so
    that a restarted sender takes over a dead one's rows soon."""
    sections = "".join(
        f'[[sections]]\nslug = "{slug}"\ntitle = "{slug.title()}"\n\n' for slug in SECTIONS
    )
    (tmp_path / "settings.toml").write_text(
        '[site]\nname = "TodayPress"\nurl = "https://todaypress.example"\n\n'
        f'[storage]\nurl = "{url}"\n\n{sections}'
        "[digest]\nrelated_links = 0\n\n"
        f'[delivery]\ntransport = "smtp"\nlease_seconds = {lease}\nbatch = {batch}\n\n'
        f'[delivery.smtp]\nhost = "127.0.0.1"\nport = {port}\nconnections = {CONNECTIONS}\n'
        f"timeout = {timeout}\n",
        encoding="utf-8",
    )
    return tmp_path


def publisher(folder: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PUBLISHER_SECRET_KEY": "crash-test-secret-0123456789"}
    env.pop("PUBLISHER_DATABASE_URL", None)  # the settings file names the database
    return subprocess.Popen(
        [sys.executable, "-m", "publisher", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def sender(folder: Path) -> subprocess.Popen[str]:
    return publisher(folder, "send", "--yes", "--json")


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


def test_two_sends_at_once_mail_each_reader_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    with smtp_server(Faults(slow=0.01)) as (port, mailbox):
        folder = project(tmp_path, url, port)
        fill(url, 400)
        both = [publisher(folder, "send", "--yes", "--json") for _ in range(2)]
        outcomes = [process.communicate(timeout=120) for process in both]
    assert [process.returncode for process in both] == [0, 0], outcomes
    runs = [json.loads(out)["this_run"].get("sent", 0) for out, _ in outcomes]
    assert sum(runs) == 400 and min(runs) > 0  # both sent, none twice
    assert len(mailbox.counts()) == 400 and mailbox.duplicates() == 0


def test_workers_share_an_edition_the_editor_started(tmp_path):
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    with smtp_server(Faults(slow=0.01)) as (port, mailbox):
        folder = project(tmp_path, url, port)
        fill(url, 400)
        plan = publisher(folder, "editions", "plan", "--json")
        assert plan.wait(timeout=60) == 0
        idle = publisher(folder, "worker", "--once", "--json")  # nothing is sending yet
        out, _ = idle.communicate(timeout=60)
        assert idle.returncode == 0 and json.loads(out)["this_run"] == {}
        store = Store.open(url)
        from publisher.delivery.send import begin

        [progress] = store.editions.history(1)
        planned = store.editions.get(progress.edition.key)
        assert planned is not None and begin(store.deliveries, planned) is EditionStatus.SENDING
        workers = [publisher(folder, "worker", "--once", "--json") for _ in range(2)]
        outcomes = [process.communicate(timeout=120) for process in workers]
        assert store.deliveries.status(planned.edition.id)[0] is EditionStatus.DONE
        store.close()
    runs = [json.loads(out)["this_run"].get("sent", 0) for out, _ in outcomes]
    assert sum(runs) == 400 and min(runs) > 0
    assert len(mailbox.counts()) == 400 and mailbox.duplicates() == 0


def test_sigterm_finishes_what_is_in_flight_and_a_new_send_resumes(tmp_path):
    url = f"sqlite:///{tmp_path / 'term.db'}"
    with smtp_server(Faults(slow=0.01)) as (port, mailbox):
        folder = project(tmp_path, url, port)
        fill(url, 300)
        first = publisher(folder, "send", "--yes", "--json")
        deadline = time.monotonic() + 60
        while len(mailbox.received) < 20:
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.01)
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=60)
        assert first.returncode == 1 and "stopped; run send again to resume" in err
        report = json.loads(out)
        assert report["deliveries"]["sending"] == 0  # in flight finished, the rest given back
        assert report["deliveries"]["sent"] == len(mailbox.received) < 300
        second = publisher(folder, "send", "--yes", "--json")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
    assert json.loads(out)["status"] == "done"
    assert len(mailbox.counts()) == 300 and mailbox.duplicates() == 0
