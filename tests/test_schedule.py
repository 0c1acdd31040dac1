"""The scheduler on a controllable clock (time-machine moves the clock every thread reads,
APScheduler's included): editions fire once at their local time, DST days included; a
restart within the grace period sends a missed edition once; two schedulers make one."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from publisher.app import open_app
from publisher.errors import SettingsError
from publisher.models import EditionKind, SubscriberStatus
from publisher.service.jobs import Jobs
from publisher.service.runner import scheduler_for
from publisher.service.schedule import cron_trigger, last_fire
from publisher.settings import settings_from_dict
from publisher.store.subscribers import NewSubscriber
from tests.conftest import ROOT, base_settings

NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")


def at(*parts: int, zone: ZoneInfo = NEW_YORK, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=zone).replace(fold=fold)


# -- triggers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "weekday"),
    [
        ("0 7 * * 1", "Monday"),
        ("0 7 * * 0", "Sunday"),
        ("0 7 * * 7", "Sunday"),
        ("0 7 * * sun", "Sunday"),
        ("0 7 * * 5", "Friday"),
    ],
)
def test_days_of_week_count_as_in_crontab(expression: str, weekday: str) -> None:
    trigger = cron_trigger(expression, NEW_YORK)
    fire = trigger.get_next_fire_time(None, at(2026, 12, 1))
    assert f"{fire:%A}" == weekday and (fire.hour, fire.minute) == (7, 0)


def test_a_weekday_range_means_monday_to_friday() -> None:
    trigger = cron_trigger("0 6 * * 1-5", NEW_YORK)
    fires, moment = [], at(2026, 11, 29)  # a Sunday
    for _ in range(6):
        moment = trigger.get_next_fire_time(None, moment + timedelta(seconds=1))
        fires.append(f"{moment:%a}")
    assert fires == ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]


@pytest.mark.parametrize("expression", ["0 6 * *", "61 6 * * *", "0 6 * * 9", "soon"])
def test_a_bad_schedule_names_its_key(expression: str) -> None:
    with pytest.raises(SettingsError, match=r"^digest\.daily: "):
        cron_trigger(expression, NEW_YORK, key="digest.daily")


def test_the_daily_fire_keeps_its_local_time_across_dst_changes() -> None:
    trigger = cron_trigger("0 6 * * *", NEW_YORK)
    spring = [last_fire(trigger, at(2026, 3, day, 7)) for day in (7, 8, 9)]
    assert [f.astimezone(UTC_ZONE).hour for f in spring] == [11, 10, 10]
    autumn = [last_fire(trigger, at(2026, 11, day, 7)) for day in (1, 2)]
    assert [f.astimezone(UTC_ZONE).hour for f in autumn] == [11, 11]
    assert all(f.astimezone(NEW_YORK).hour == 6 for f in spring + autumn)


# -- a service on a store -------------------------------------------------------------------


def make_settings(tmp_path: Path, database_url: str | None = None, **digest: Any) -> Any:
    if not (tmp_path / "content").exists():
        shutil.copytree(ROOT / "content" / "opinion", tmp_path / "content" / "opinion")
    raw = base_settings(
        digest={"daily": "0 6 * * *", "weekly": "", "related_links": 0, **digest},
        delivery={"transport": "outbox", "outbox": {"path": "outbox"}},
    )
    raw["site"]["timezone"] = "America/New_York"
    if database_url:
        raw["storage"] = {"url": database_url}
    return settings_from_dict(raw, base_dir=tmp_path)


def fresh(tmp_path: Path, title: str, published: datetime) -> None:
    slug = title.lower().replace(" ", "-")
    (tmp_path / "content" / "opinion" / f"{slug}.md").write_text(
        f'---\ntitle: "{title}"\ndate: {published.isoformat()}\n---\n\n{title}.\n',
        encoding="utf-8",
    )


@pytest.fixture
def readers_and_news(tmp_path: Path) -> Any:
    """Three readers who confirmed a week before, and an article an hour before each fire."""

    def populate(app: Any, fires: list[datetime]) -> None:
        for n, fire in enumerate(fires):
            fresh(tmp_path, f"Morning news {n}", fire - timedelta(hours=1))
        for n in range(3):
            app.store.subscribers.add(
                NewSubscriber(
                    email=f"r{n}@example.org",
                    sections=("opinion",),
                    status=SubscriberStatus.CONFIRMED,
                ),
                now=fires[0] - timedelta(days=7),
            )

    return populate


def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def editions(app: Any) -> list[Any]:
    return app.store.editions.history(50)


class Counting(Jobs):
    """Jobs that count the edition runs that found an edition due (start-up's catch-up
    finds none when the last one is past the grace period)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runs: list[datetime] = []
        self.lock = threading.Lock()

    def edition(self, kind: EditionKind) -> Any:
        planned = super().edition(kind)
        if planned is not None:
            with self.lock:
                self.runs.append(self.clock())
        return planned


def start(jobs: Jobs) -> Any:
    scheduler = scheduler_for(jobs)
    scheduler.start()
    return scheduler


@pytest.mark.parametrize(
    ("label", "before_fire", "fire_utc"),
    [
        ("an ordinary day", at(2026, 3, 7, 5, 59, 57), datetime(2026, 3, 7, 11, tzinfo=UTC)),
        ("spring forward", at(2026, 3, 8, 5, 59, 57), datetime(2026, 3, 8, 10, tzinfo=UTC)),
        ("fall back", at(2026, 11, 1, 5, 59, 57), datetime(2026, 11, 1, 11, tzinfo=UTC)),
    ],
)
def test_an_edition_fires_once_at_six_local(
    tmp_path: Path, readers_and_news: Any, label: str, before_fire: datetime, fire_utc: datetime
) -> None:
    with time_machine.travel(before_fire, tick=True):
        app = open_app(make_settings(tmp_path))
        readers_and_news(app, [fire_utc])
        jobs = Counting(app)
        scheduler = start(jobs)
        try:
            wait_for(lambda: jobs.runs)
            time.sleep(1.5)  # a second fire would come now, if any
        finally:
            scheduler.shutdown(wait=True)
        [found] = editions(app)
        local = fire_utc.astimezone(NEW_YORK)
        assert found.edition.key == f"daily:{local:%Y-%m-%d}"
        assert found.edition.cutoff == fire_utc
        assert found.recipients == 3 and found.status.value == "sending"
        assert len(jobs.runs) == 1 and jobs.runs[0] - fire_utc < timedelta(seconds=3)
        app.close()


def test_a_time_in_the_repeated_hour_fires_twice_but_makes_one_edition(
    tmp_path: Path, readers_and_news: Any
) -> None:
    """01:30 happens twice on the autumn change: APScheduler runs the job at both, and the
    edition's key (the local date) makes the second a no-op."""
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
    with time_machine.travel(first - timedelta(seconds=2), tick=True) as clock:
        app = open_app(make_settings(tmp_path, daily="30 1 * * *"))
        readers_and_news(app, [first])
        jobs = Counting(app)
        scheduler = start(jobs)
        try:
            wait_for(lambda: len(jobs.runs) == 1)
            clock.move_to(second - timedelta(seconds=2))
            scheduler.wakeup()
            wait_for(lambda: len(jobs.runs) == 2)
        finally:
            scheduler.shutdown(wait=True)
    assert jobs.runs[1] >= second - timedelta(seconds=1)  # at the second 01:30, not before
    [found] = editions(app)
    assert found.edition.key == "daily:2026-11-01" and found.recipients == 3
    assert sum(found.states.values()) == 3
    app.close()


def test_a_restart_within_the_grace_period_sends_the_missed_edition_once(
    tmp_path: Path, readers_and_news: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fire = datetime(2026, 12, 2, 11, tzinfo=UTC)  # 06:00 in New York
    settings = make_settings(tmp_path, grace_minutes=120)
    with time_machine.travel(fire - timedelta(hours=2), tick=False):
        app = open_app(settings)
        readers_and_news(app, [fire])
    # Down from 05:50 to 06:20, then restarted: the start-up job sends the 06:00 edition.
    with time_machine.travel(fire + timedelta(minutes=20), tick=True):
        app = open_app(settings)
        jobs = Counting(app)
        scheduler = start(jobs)
        try:
            wait_for(lambda: jobs.runs)
            wait_for(lambda: scheduler.get_job("start-up") is None)
        finally:
            scheduler.shutdown(wait=True)
        [found] = editions(app)
        assert found.edition.key == "daily:2026-12-02" and found.edition.cutoff == fire
        assert found.recipients == 3
        app.close()
    # Restarted again at 06:40: the edition exists; nothing is planned or queued twice.
    with time_machine.travel(fire + timedelta(minutes=40), tick=False):
        app = open_app(settings)
        [again] = Jobs(app).catch_up()
        assert again.created is False and again.edition.key == "daily:2026-12-02"
        [found] = editions(app)
        assert sum(found.states.values()) == 3
        app.close()
    # Restarted at 08:30, past the grace period, with no edition yet: skipped, and said so.
    other = tmp_path / "late"
    other.mkdir()
    with time_machine.travel(fire + timedelta(minutes=150), tick=False):
        app = open_app(make_settings(other, grace_minutes=120))
        with caplog.at_level(logging.WARNING, logger="publisher.service.jobs"):
            assert Jobs(app).catch_up() == []
        assert editions(app) == []
        assert "daily:2026-12-02 skipped" in caplog.text
        app.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_schedulers_on_one_database_make_one_edition(
    tmp_path: Path, readers_and_news: Any, backend: str, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    fire = datetime(2026, 12, 2, 11, tzinfo=UTC)
    settings = make_settings(tmp_path, database_url)
    with time_machine.travel(fire - timedelta(seconds=3), tick=True):
        apps = [open_app(settings), open_app(settings)]
        readers_and_news(apps[0], [fire])
        jobs = [Counting(app) for app in apps]
        schedulers = [start(j) for j in jobs]
        try:
            wait_for(lambda: all(j.runs for j in jobs))
        finally:
            for scheduler in schedulers:
                scheduler.shutdown(wait=True)
    [found] = editions(apps[0])
    assert found.recipients == 3 and sum(found.states.values()) == 3
    for app in apps:
        app.close()


@pytest.mark.parametrize(
    ("days", "fired"),
    [
        ("0-3", ["Sun", "Mon", "Tue", "Wed"]),
        ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
        ("1-5/2", ["Mon", "Wed", "Fri"]),
        ("5-7", ["Fri", "Sat", "Sun"]),
        ("sat,sun", ["Sat", "Sun"]),
    ],
)
def test_day_ranges_and_steps_count_as_in_crontab(days: str, fired: list[str]) -> None:
    trigger = cron_trigger(f"0 6 * * {days}", NEW_YORK)
    moment, seen = at(2026, 11, 28, 12), []  # a Saturday noon: the week from Sunday
    for _ in range(len(fired)):
        moment = trigger.get_next_fire_time(None, moment + timedelta(seconds=1))
        seen.append(f"{moment:%a}")
    order = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    assert sorted(seen, key=order.index) == sorted(fired, key=order.index)
    assert len(set(seen)) == len(fired)  # each once in the week that follows
