"""Each reader's morning: a scheduler tick every five minutes over a week with clock changes
in both hemispheres plans every reader once per local date, at their hour, within a tick;
a restart in the middle of a slot and a reader who moves zone change nothing of that."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from publisher.app import open_app
from publisher.models import EditionStatus, SubscriberStatus
from publisher.service.jobs import Jobs
from publisher.service.schedule import slot_instant, slot_key
from publisher.settings import settings_from_dict
from publisher.store.schema import deliveries, editions, subscribers
from publisher.store.subscribers import NewSubscriber
from tests.conftest import base_settings
from tests.helpers import article, put_articles

# 2027-03-27 to 2027-04-05: Europe springs forward on 28 March, Sydney and Auckland fall back
# on 4 April; New York changed on 14 March, São Paulo and Kolkata do not change.
START = datetime(2027, 3, 27, 0, 0, tzinfo=UTC)
END = datetime(2027, 4, 5, 0, 0, tzinfo=UTC)
TICK = timedelta(minutes=5)
GRACE = timedelta(minutes=180)  # digest.grace_minutes
ZONES = [
    None,  # the site's zone (UTC)
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Pacific/Auckland",
]
HOURS = [None, 2, 7, 18]  # None: the site's default (7); 02:00 does not exist in Berlin on 28 March


def make_app(folder: Path, **digest: Any) -> Any:
    raw = base_settings(
        digest={"delivery": "local", "hour": 7, "related_links": 0, "hold": False, **digest},
        delivery={"transport": "outbox", "outbox": {"path": "outbox"}},
    )
    return open_app(settings_from_dict(raw, base_dir=folder))


def news(app: Any) -> None:
    """A column every three hours through the week (and the day before)."""
    stories = [
        article(n, "opinion", published=START - timedelta(days=1) + n * timedelta(hours=3))
        for n in range(90)
    ]
    put_articles(app.store, stories, now=START - timedelta(days=2))


def readers(app: Any) -> dict[str, tuple[str | None, int | None]]:
    found = {}
    for zone in ZONES:
        for hour in HOURS:
            email = f"{(zone or 'site').replace('/', '-').lower()}-{hour}@example.org"
            app.store.subscribers.add(
                NewSubscriber(
                    email=email,
                    sections=("opinion",),
                    status=SubscriberStatus.CONFIRMED,
                    timezone=zone,
                    hour=hour,
                ),
                now=START - timedelta(days=10),
            )
            found[email] = (zone, hour)
    return found


def served(app: Any) -> dict[str, list[tuple[str, datetime, datetime]]]:
    """email → (edition key, its cutoff, when it was planned) of each daily delivery."""
    query = (
        select(subscribers.c.email, editions.c.key, editions.c.cutoff, editions.c.created_at)
        .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
        .join(editions, editions.c.id == deliveries.c.edition_id)
        .order_by(editions.c.cutoff)
    )
    found: dict[str, list[tuple[str, datetime, datetime]]] = defaultdict(list)
    with app.store.db.reading() as conn:
        for row in conn.execute(query):
            found[row.email].append((row.key, row.cutoff, row.created_at))
    return found


def run_ticks(jobs: Jobs, start: datetime, end: datetime) -> None:
    moment = start
    while moment < end:
        jobs.clock = lambda moment=moment: moment
        jobs.tick()
        moment += TICK


def test_a_week_of_ticks_serves_every_reader_once_a_local_date_at_their_hour(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    try:
        news(app)
        people = readers(app)
        run_ticks(Jobs(app), START, END)
        got = served(app)
        for email, (zone_name, hour) in people.items():
            zone = ZoneInfo(zone_name or "UTC")
            local_hour = 7 if hour is None else hour
            dates = [key.split(":", 1)[1][:10] for key, _, _ in got[email]]
            assert len(dates) == len(set(dates)), f"{email} got a local date twice: {dates}"
            expected = expected_dates(zone, local_hour)
            assert dates == expected, (email, dates, expected)
            for key, cutoff, planned_at in got[email]:
                local_date = date.fromisoformat(key.split(":", 1)[1][:10])
                due = slot_instant(local_date, local_hour, zone)
                assert cutoff == due, (email, key)
                if due >= START:  # on time, within a tick
                    assert timedelta(0) <= planned_at - due < TICK, (email, key, planned_at)
                else:  # due before the first tick, within the grace period: at once
                    assert planned_at == START
                offset = due.astimezone(zone).utcoffset()
                assert key == slot_key(local_date, local_hour, offset)
        assert all(item.recipients for item in app.store.editions.history(1000))
        # The clock changes, as the readers saw them.
        berlin = dict((k[6:16], c) for k, c, _ in got["europe-berlin-7@example.org"])
        assert berlin["2027-03-27"].hour == 6 and berlin["2027-03-28"].hour == 5
        sydney = dict((k[6:16], c) for k, c, _ in got["australia-sydney-7@example.org"])
        assert sydney["2027-04-03"].hour == 20 and sydney["2027-04-04"].hour == 21
        # 02:00 did not exist in Berlin on 28 March: that reader got it at 03:00 local.
        spring = dict((k[6:16], c) for k, c, _ in got["europe-berlin-2@example.org"])
        assert spring["2027-03-28"].astimezone(ZoneInfo("Europe/Berlin")).hour == 3
    finally:
        app.close()


def expected_dates(zone: ZoneInfo, hour: int) -> list[str]:
    """The local dates whose `hour` falls inside the week the ticks ran (or within the grace
    period before the first tick, which sends what was missed)."""
    found = []
    day = (START - timedelta(days=1)).date()
    while day <= END.date() + timedelta(days=1):
        if START - GRACE <= slot_instant(day, hour, zone) < END - TICK:
            found.append(day.isoformat())
        day += timedelta(days=1)
    return found


def test_a_restart_in_the_middle_of_a_slot_plans_nobody_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(tmp_path)
    news(app)
    readers(app)
    due = datetime(2027, 3, 30, 7, 0, tzinfo=UTC)  # several slots due within the grace period
    crashing = Jobs(app, clock=lambda: due + timedelta(minutes=1))
    crashed: list[str] = []

    def crash(self: Jobs, planned: Any) -> Any:
        crashed.append(planned.edition.key)
        raise SystemExit("killed between planning the slot and starting it")

    monkeypatch.setattr(Jobs, "_hold_or_begin", crash)
    with pytest.raises(SystemExit):
        crashing.tick()
    monkeypatch.undo()
    app.close()
    app = make_app(tmp_path)  # the restart
    try:
        [key] = crashed
        planned = app.store.editions.get(key)
        assert planned is not None
        assert app.store.deliveries.status(planned.edition.id)[0] is EditionStatus.PLANNED
        restarted = Jobs(app, clock=lambda: due + timedelta(minutes=6))
        found = restarted.tick()
        [started] = [p for p in found if p.edition.key == key]
        assert started.created is False and len(found) > 1  # and the slots not reached before
        assert app.store.deliveries.status(planned.edition.id)[0] is EditionStatus.SENDING
        counts = defaultdict(int)
        for email, items in served(app).items():
            counts[email] += len(items)
        assert max(counts.values()) == 1 and started.deliveries > 0
        assert restarted.tick() == []  # nothing left to do for that slot
    finally:
        app.close()


@pytest.mark.parametrize(
    ("first", "then", "moved_at", "dates"),
    [
        # Tokyo's 07:00 on the 30th is 22:00 UTC on the 29th; in Los Angeles it is then still
        # the 29th, whose 07:00 passed: the 30th, already served, is not served again.
        (
            "Asia/Tokyo",
            "America/Los_Angeles",
            datetime(2027, 3, 29, 23, tzinfo=UTC),
            ["2027-03-29", "2027-03-30", "2027-03-31"],
        ),
        # Los Angeles' 07:00 on the 30th is 14:00 UTC; moved to Tokyo at 15:00 UTC it is the
        # 31st there from midnight: served at 07:00 on the 31st, once.
        (
            "America/Los_Angeles",
            "Asia/Tokyo",
            datetime(2027, 3, 30, 15, tzinfo=UTC),
            ["2027-03-28", "2027-03-29", "2027-03-30", "2027-03-31", "2027-04-01"],
        ),
    ],
)
def test_a_reader_who_moves_zone_gets_one_digest_a_local_date(
    tmp_path: Path, first: str, then: str, moved_at: datetime, dates: list[str]
) -> None:
    app = make_app(tmp_path)
    try:
        news(app)
        reader = app.store.subscribers.add(
            NewSubscriber(
                email="nomad@example.org",
                sections=("opinion",),
                status=SubscriberStatus.CONFIRMED,
                timezone=first,
            ),
            now=START - timedelta(days=10),
        )
        jobs = Jobs(app)
        begin = datetime(2027, 3, 28, 12, tzinfo=UTC)
        run_ticks(jobs, begin, moved_at)
        app.store.subscribers.set_preferences(
            reader.id,
            sections=("opinion",),
            frequency=reader.frequency,
            now=moved_at,
            timezone=then,
        )
        run_ticks(jobs, moved_at, datetime(2027, 4, 1, 12, tzinfo=UTC))
        got = [key[6:16] for key, _, _ in served(app)["nomad@example.org"]]
        assert got == dates
        # A slot whose readers were all served that date is not made at all (an empty
        # edition would be held as "no articles" and the editors mailed for nothing).
        assert all(item.recipients for item in app.store.editions.history(100))
    finally:
        app.close()


def test_an_evening_slot_missed_before_midnight_is_caught_up_after_it() -> None:
    from publisher.service.schedule import due_slots

    grace = timedelta(minutes=180)
    groups = [(None, 23)]  # the site's zone (UTC), 23:00
    late = due_slots(groups, datetime(2026, 12, 3, 0, 30, tzinfo=UTC), site_zone=UTC,
                     default_hour=7, grace=grace)  # fmt: skip
    assert [slot.key for slot in late] == ["daily:2026-12-02T23:00+00:00"]
    too_late = due_slots(groups, datetime(2026, 12, 3, 2, 30, tzinfo=UTC), site_zone=UTC,
                         default_hour=7, grace=grace)  # fmt: skip
    assert too_late == []
