"""Messages a second with 1, 2 and 4 `publisher worker` processes on PostgreSQL, and with one
worker on SQLite, each delivering a fresh 10,000-reader edition into a local SMTP sink
(tests/smtp_sink.py, its own process). One worker is the baseline the others are compared to.

Two rates per run: "wall", from starting the workers to the edition done (process start-up
included), and "steady", the messages over the time between the first and the last `sent_at`.

    .venv/bin/python bench/scale.py [--readers 10000] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import postgres
from sqlalchemy import func, select

from publisher.models import EditionStatus
from publisher.store.schema import deliveries
from tests.browser import free_port
from tests.test_delivery_crash import CONNECTIONS, project, publisher
from tests.test_plan_safety import fill
from tests.test_scale import SINK, planned_and_started


def one_run(url: str, readers: int, workers: int) -> tuple[float, float]:
    """(wall rate, steady rate) of delivering a fresh edition with `workers` workers."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        port = free_port()
        sink = subprocess.Popen([sys.executable, str(SINK), str(port)], stdout=subprocess.PIPE)
        assert sink.stdout is not None and sink.stdout.readline().strip() == b"ready"
        try:
            fill(url, readers)
            project(folder, url, port, lease=2, batch=200, timeout=10)
            store, edition_id = planned_and_started(folder, url, readers=readers)
            started = time.perf_counter()
            running = [publisher(folder, "worker") for _ in range(workers)]
            while store.deliveries.status(edition_id)[0] is not EditionStatus.DONE:
                time.sleep(0.05)
            wall = time.perf_counter() - started
            for process in running:
                process.terminate()
            for process in running:
                process.communicate(timeout=60)
            span = select(func.min(deliveries.c.sent_at), func.max(deliveries.c.sent_at))
            with store.db.reading() as conn:
                first, last = conn.execute(span.where(deliveries.c.edition_id == edition_id)).one()
            store.close()
        finally:
            sink.terminate()
            sink.communicate(timeout=30)
    steady = readers / max((last - first).total_seconds(), 1e-6)
    return readers / wall, steady


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    print(f"{args.readers:,} readers, {CONNECTIONS} SMTP connections a worker, into a local sink")
    results = {}
    for workers in counts:
        with postgres() as url:
            results[("postgresql", workers)] = one_run(url, args.readers, workers)
    with tempfile.TemporaryDirectory() as work:
        results[("sqlite", 1)] = one_run(f"sqlite:///{work}/bench.db", args.readers, 1)
    base = results[("postgresql", counts[0])][1]
    for (backend, workers), (wall, steady) in results.items():
        print(
            f"{backend:10} {workers} worker(s): {wall:7.0f} msg/s wall, {steady:7.0f} msg/s steady"
            f"  ({steady / base:.1f}x {counts[0]} PostgreSQL worker(s))"
        )


if __name__ == "__main__":
    main()
