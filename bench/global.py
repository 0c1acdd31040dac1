"""Local morning delivery at scale: 100,000 readers spread over 24 UTC offsets.

Measures the scheduler's tick (every five minutes: find the (zone, hour) groups whose hour has
come, plan their slot into the database) over a whole day, against planning the same readers
as one all-at-once edition (the site-wide daily), on fresh copies of one database (SQLite,
or PostgreSQL at PUBLISHER_TEST_PG).

    .venv/bin/python bench/global.py [--readers 100000] [--runs 5] [--backend postgresql]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import SECTIONS, postgres

from publisher.app import open_app
from publisher.models import EditionKind, Frequency, SubscriberStatus
from publisher.service.jobs import Jobs
from publisher.settings import settings_from_dict
from publisher.store.subscribers import NewSubscriber
from tests.conftest import base_settings
from tests.helpers import article, put_articles

DAY = datetime(2026, 12, 3, tzinfo=UTC)  # no clock change anywhere near
ZONES = [
    "Pacific/Pago_Pago", "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles",
    "America/Denver", "America/Chicago", "America/New_York", "America/Halifax",
    "America/Sao_Paulo", "Atlantic/South_Georgia", "Atlantic/Azores", "UTC", "Europe/Paris",
    "Europe/Athens", "Europe/Moscow", "Asia/Dubai", "Asia/Karachi", "Asia/Dhaka",
    "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo", "Australia/Brisbane", "Pacific/Noumea",
    "Pacific/Auckland",
]  # fmt: skip


def settings(folder: Path, url: str, delivery: str) -> object:
    raw = base_settings(
        sections=[{"slug": slug, "title": slug.title()} for slug in SECTIONS],
        storage={"url": url},
        # A short grace: a process that runs all day never catches up an earlier date.
        digest={
            "delivery": delivery,
            "related_links": 0,
            "grace_minutes": 10,
            "daily": "0 7 * * *",
        },
    )
    return settings_from_dict(raw, base_dir=folder)


def populate(folder: Path, url: str, readers: int) -> None:
    app = open_app(settings(folder, url, "local"))
    stories = [
        article(
            n * 10 + i,
            section,
            published=DAY - timedelta(hours=30) + timedelta(minutes=17 * (n * 10 + i)),
        )
        for n, section in enumerate(SECTIONS)
        for i in range(8)
    ]
    put_articles(app.store, stories, now=DAY - timedelta(days=2))
    people = (
        NewSubscriber(
            email=f"reader{n}@example.com",
            sections=tuple(SECTIONS[: 1 + n % 3]),
            frequency=Frequency.DAILY,
            status=SubscriberStatus.CONFIRMED,
            timezone=ZONES[n % len(ZONES)],
        )
        for n in range(readers)
    )
    app.store.subscribers.add_many(people, now=DAY - timedelta(days=10))
    app.close()


def all_at_once(folder: Path, url: str) -> float:
    """The site-wide daily edition as the scheduler makes it at 07:00: planned, checked by
    the safety hold, started (what each slot's tick does for its readers)."""
    app = open_app(settings(folder, url, "site"))
    try:
        jobs = Jobs(app, clock=lambda: DAY + timedelta(hours=7, seconds=5))
        started = time.perf_counter()
        planned = jobs.edition(EditionKind.DAILY)
        seconds = time.perf_counter() - started
        assert planned is not None
        print(f"all at once: {planned.deliveries:,} messages planned in {seconds:.2f} s")
        return seconds
    finally:
        app.close()


def a_day_of_ticks(folder: Path, url: str) -> tuple[float, float, int]:
    """Every tick of one day: from 18:00 UTC the day before (Auckland's 07:00, and Pago
    Pago's 07:00 of the day before) for 24 hours, so each reader is due once."""
    app = open_app(settings(folder, url, "local"))
    try:
        jobs = Jobs(app)
        busy: list[float] = []
        idle: list[float] = []
        planned = 0
        moment = DAY - timedelta(hours=6)
        while moment < DAY + timedelta(hours=18):
            jobs.clock = lambda moment=moment: moment
            started = time.perf_counter()
            found = jobs.tick()
            (busy if found else idle).append(time.perf_counter() - started)
            planned += sum(p.deliveries for p in found)
            moment += timedelta(minutes=5)
        total = sum(busy) + sum(idle)
        print(
            f"a day of ticks: {len(busy) + len(idle)} ticks, {planned:,} messages planned in "
            f"{total:.2f} s; {len(busy)} ticks planned a slot (the longest {max(busy):.2f} s), "
            f"an idle tick takes {1000 * sum(idle) / len(idle):.1f} ms"
        )
        return total, max(busy), planned
    finally:
        app.close()


@contextmanager
def copy_of(base_url: str, work: Path) -> Iterator[str]:
    """A fresh copy of the populated database: a copied SQLite file, or a PostgreSQL
    database made with the populated one as its template."""
    if not base_url.startswith("sqlite"):
        with postgres(template=base_url.rsplit("/", 1)[1]) as url:
            yield url
        return
    target = work / f"copy-{uuid.uuid4().hex[:8]}.db"
    shutil.copy(base_url.split(":///", 1)[1], target)  # closed: no WAL file left beside it
    try:
        yield f"sqlite:///{target}"
    finally:
        for leftover in work.glob(f"{target.name}*"):
            leftover.unlink()


@contextmanager
def populated(backend: str, work: Path, readers: int) -> Iterator[str]:
    """The database every run copies, on `backend`; its URL."""
    with ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{work / 'base.db'}"
        else:
            url = stack.enter_context(postgres())
        started = time.perf_counter()
        populate(work, url, readers)
        seconds = time.perf_counter() - started
        print(f"{readers:,} readers in {len(ZONES)} zones on {backend} (made in {seconds:.1f} s)")
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="each way, on fresh copies")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        wholes: list[float] = []
        days: list[tuple[float, float, int]] = []
        with populated(args.backend, work, args.readers) as base:
            for _ in range(args.runs):
                with copy_of(base, work) as url:
                    wholes.append(all_at_once(work, url))
                with copy_of(base, work) as url:
                    days.append(a_day_of_ticks(work, url))
        # The fastest run of each: the one least disturbed by the machine's other work.
        whole = min(wholes)
        total = min(total for total, _, _ in days)
        longest = max(longest for _, longest, _ in days)
        print(
            f"best of {args.runs}: all at once {whole:.2f} s, a day of ticks {total:.2f} s: "
            f"{total / whole:.2f}x; the longest tick of all runs {longest:.2f} s"
        )


if __name__ == "__main__":
    main()
