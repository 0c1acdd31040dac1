"""Several machines' worth of workers on one PostgreSQL database: four `publisher worker`
processes share a 10,000-reader edition (every reader mailed once), then the same with one
worker killed with SIGKILL mid-way (nobody lost; the only copies sent twice are messages that
worker had in flight)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from publisher.delivery.send import begin
from publisher.models import EditionStatus
from publisher.store import Store
from publisher.store.schema import deliveries, subscribers
from tests.browser import free_port
from tests.test_delivery_crash import CONNECTIONS, project, publisher
from tests.test_plan_safety import fill

READERS = 10_000
WORKERS = 4
SINK = Path(__file__).with_name("smtp_sink.py")


def planned_and_started(folder: Path, url: str, readers: int = READERS) -> tuple[Store, int]:
    """Plan the daily edition (by the command line) and set it sending."""
    plan = publisher(folder, "editions", "plan", "--json")
    out, err = plan.communicate(timeout=300)
    assert plan.returncode == 0, err
    assert json.loads(out)["deliveries"] == readers
    store = Store.open(url)
    [progress] = store.editions.history(1)
    planned = store.editions.get(progress.edition.key)
    assert planned is not None and begin(store.deliveries, planned) is EditionStatus.SENDING
    return store, planned.edition.id


def sent_rows(store: Store, edition_id: int) -> int:
    query = select(func.count()).where(
        deliveries.c.edition_id == edition_id, deliveries.c.state == "sent"
    )
    with store.db.reading() as conn:
        return int(conn.execute(query).scalar_one())


def run_workers(folder: Path, url: str, tmp_path: Path, kill_at: int | None) -> tuple:
    """Plan and start the edition, deliver it with WORKERS workers (SIGKILL the first once
    `kill_at` rows are sent); (recipients counted by the sink, emails the killed worker held)."""
    port = free_port()
    counted = tmp_path / "recipients.json"
    sink = subprocess.Popen(
        [sys.executable, str(SINK), str(port), str(counted)], stdout=subprocess.PIPE, text=True
    )
    held: set[str] = set()
    workers: list[subprocess.Popen[str]] = []
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
        project(folder, url, port, lease=2, batch=200, timeout=10)
        store, edition_id = planned_and_started(folder, url)
        workers = [publisher(folder, "worker") for _ in range(WORKERS)]
        owner = workers[0].stderr.readline().split()[1]  # "worker OWNER sending through …"
        deadline = time.monotonic() + 300
        if kill_at is not None:
            while sent_rows(store, edition_id) < kill_at:
                assert time.monotonic() < deadline, "the workers made no progress"
                time.sleep(0.01)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(10)
            held = claimed_by(store, owner)
            assert held, "the killed worker held no rows: the kill fell outside the send"
        while store.deliveries.status(edition_id)[0] is not EditionStatus.DONE:
            assert time.monotonic() < deadline, "the edition did not finish"
            time.sleep(0.1)
        assert sent_rows(store, edition_id) == READERS
        store.close()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.communicate(timeout=60)
        sink.send_signal(signal.SIGTERM)
        sink.communicate(timeout=30)
    return Counter(json.loads(counted.read_text(encoding="utf-8"))), held


def claimed_by(store: Store, owner: str) -> set[str]:
    query = (
        select(subscribers.c.email)
        .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
        .where(deliveries.c.lease_owner == owner, deliveries.c.state == "sending")
    )
    with store.db.reading() as conn:
        return {row.email for row in conn.execute(query)}


def test_four_workers_mail_ten_thousand_readers_once(tmp_path: Path, postgres_url: str) -> None:
    fill(postgres_url, READERS)
    counts, _ = run_workers(tmp_path, postgres_url, tmp_path, kill_at=None)
    assert len(counts) == READERS
    assert set(counts.values()) == {1}


def test_a_worker_killed_mid_way_loses_nobody(tmp_path: Path, postgres_url: str) -> None:
    fill(postgres_url, READERS)
    counts, held = run_workers(tmp_path, postgres_url, tmp_path, kill_at=READERS // 3)
    assert len(counts) == READERS  # nobody lost
    twice = {email for email, n in counts.items() if n > 1}
    assert twice <= held  # only what the killed worker held…
    assert len(twice) <= CONNECTIONS and max(counts.values()) <= 2  # …and had in flight
