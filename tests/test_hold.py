"""The safety hold: an automatic edition with no articles, with far more than usual, or that
repeats readers' previous digests under new ids waits for an editor (who is mailed);
an editor's own send is never held."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from publisher.app import open_app
from publisher.models import EditionKind, EditionStatus, Frequency, SubscriberStatus
from publisher.pipeline import gather_and_publish
from publisher.service.jobs import Jobs
from publisher.settings import settings_from_dict
from publisher.store.subscribers import NewSubscriber
from tests.conftest import base_settings

FIRST = datetime(2026, 11, 2, 6, tzinfo=UTC)  # 06:00 UTC, the daily's time


class Site:
    """An opinion section in a folder, three readers, and the daily edition run by hand."""

    def __init__(self, folder: Path, **digest: Any) -> None:
        self.folder = folder
        (folder / "content" / "opinion").mkdir(parents=True)
        raw = base_settings(
            digest={"daily": "0 6 * * *", "weekly": "", "related_links": 0, **digest},
            delivery={"transport": "outbox", "outbox": {"path": "outbox"}},
        )
        self.app = open_app(settings_from_dict(raw, base_dir=folder))
        for n in range(3):
            self.app.store.subscribers.add(
                NewSubscriber(
                    email=f"r{n}@example.org",
                    sections=("opinion",),
                    status=SubscriberStatus.CONFIRMED,
                ),
                now=FIRST - timedelta(days=30),
            )

    def write(self, slug: str, title: str, published: datetime, article_id: str = "") -> None:
        front = f'title: "{title}"\ndate: {published.isoformat()}\n'
        if article_id:
            front += f"id: {article_id}\n"
        path = self.folder / "content" / "opinion" / f"{slug}.md"
        path.write_text(f"---\n{front}---\n\n{title}.\n", encoding="utf-8")

    def day(self, number: int, articles: int, *, title: str = "Column") -> Any:
        """Day `number`: `articles` new columns the evening before, then the 06:00 edition."""
        fire = FIRST + timedelta(days=number)
        for n in range(articles):
            self.write(f"d{number}-{n}", f"{title} {number}-{n}", fire - timedelta(hours=8))
        return self.run(fire)

    def run(self, fire: datetime) -> Any:
        jobs = Jobs(self.app, clock=lambda: fire + timedelta(seconds=5))
        gather_and_publish(self.app)
        planned = jobs.edition(EditionKind.DAILY)
        assert planned is not None
        return planned, self.app.store.deliveries.status(planned.edition.id)

    def mail(self) -> list[Any]:
        folder = self.folder / "outbox"
        files = sorted(folder.glob("**/*.eml")) if folder.exists() else []
        return [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]


@pytest.fixture
def site(tmp_path: Path) -> Any:
    made = Site(tmp_path, editors=["desk@todaypress.example"])
    yield made
    made.app.close()


def test_an_edition_with_no_articles_is_held_and_the_editors_are_mailed(site: Site) -> None:
    planned, (status, reason) = site.day(1, 0)
    assert status is EditionStatus.HELD and reason.startswith("no articles")
    [note] = site.mail()
    assert note["To"] == "desk@todaypress.example"
    assert note["Subject"] == f"[TodayPress] {planned.edition.key} is held"
    assert f"/admin/editions/{planned.edition.key}" in note.get_content()


def test_an_edition_without_readers_is_not_held(site: Site) -> None:
    """A new site (no confirmed reader yet) makes empty editions: nothing to hold, nobody
    to trouble."""
    for n in range(3):
        assert site.app.store.subscribers.remove(f"r{n}@example.org")
    _, (status, _) = site.day(1, 0)
    assert status is EditionStatus.DONE
    assert site.mail() == []


def test_an_ordinary_edition_goes_and_nobody_is_mailed(site: Site) -> None:
    for day in (1, 2, 3):
        _, (status, reason) = site.day(day, 2)
        assert status is EditionStatus.SENDING, reason
    assert site.mail() == []


def test_far_more_articles_than_usual_holds_the_edition(site: Site) -> None:
    for day in (1, 2, 3):
        site.day(day, 2)
    _, (status, _) = site.day(4, 6)  # 3x the median: not more than it
    assert status is EditionStatus.SENDING
    _, (status, reason) = site.day(5, 7)
    assert status is EditionStatus.HELD
    assert re.match(r"7 articles: more than 3x the usual 2 of the last 4 daily editions", reason)


def test_the_same_stories_under_new_ids_hold_the_edition(site: Site) -> None:
    fire = FIRST + timedelta(days=1)
    for n in range(3):
        site.write(f"story-{n}", f"Story {n}", fire - timedelta(hours=8), article_id=f"old-{n}")
    _, (status, _) = site.run(fire)
    assert status is EditionStatus.SENDING
    # The source now gives the same stories other ids (a CMS migration, a feed that changed
    # its GUIDs): by id they are new, by link and title they are what readers had.
    for n in range(3):
        site.write(f"story-{n}", f"Story {n}", fire - timedelta(hours=8), article_id=f"new-{n}")
    site.write("fresh", "A genuinely new column", fire + timedelta(hours=10))
    _, (status, reason) = site.run(fire + timedelta(days=1))
    assert status is EditionStatus.SENDING, "one new story among them: not a repeat"
    for n in range(3):
        site.write(f"story-{n}", f"Story {n}", fire - timedelta(hours=8), article_id=f"v3-{n}")
    (site.folder / "content" / "opinion" / "fresh.md").unlink()
    _, (status, reason) = site.run(fire + timedelta(days=2))
    assert status is EditionStatus.HELD
    assert "100% of readers would get the same articles" in reason


def test_the_hold_can_be_turned_off(tmp_path: Path) -> None:
    site = Site(tmp_path, hold=False)
    try:
        _, (status, _) = site.day(1, 0)
        assert status is EditionStatus.DONE  # nobody had anything: done at once
    finally:
        site.app.close()


def test_a_held_edition_stays_held_across_restarts(site: Site) -> None:
    _, (status, _) = site.day(1, 0)
    assert status is EditionStatus.HELD
    again, (status, _) = site.run(FIRST + timedelta(days=1, minutes=30))
    assert again.created is False and status is EditionStatus.HELD
    assert len(site.mail()) == 1  # the editors are told once


def test_a_slot_is_compared_with_the_same_slot_the_day_before(tmp_path: Path) -> None:
    from publisher.digest.hold import slot_of

    assert slot_of("daily:2026-12-02T07:00+05:30") == "T07:00+05:30"
    assert slot_of("daily:2026-12-02") == "" and slot_of("manual:2026-12-02T14:05:09") == ""
    site = Site(tmp_path, delivery="local", hour=7)
    try:
        for n, zone in enumerate(("Asia/Tokyo", "Europe/Paris")):
            site.app.store.subscribers.set_preferences(
                n + 1,
                sections=("opinion",),
                frequency=Frequency.DAILY,
                now=FIRST,
                timezone=zone,
            )
        day = datetime(2026, 11, 10, tzinfo=UTC)
        for n in range(3):
            site.write(f"s{n}", f"Story {n}", day - timedelta(hours=20), article_id=f"a-{n}")
        gather_and_publish(site.app)
        first = tick(site, day - timedelta(hours=2))  # Tokyo's 07:00 on the 10th
        assert "daily:2026-11-10T07:00+09:00" in {p.edition.key for p in first}
        # Paris and the site's UTC reader in between: the newest daily editions are theirs,
        # and it is with Tokyo's own slot of the day before that Tokyo's is compared.
        between = tick(site, day + timedelta(hours=7))
        assert {p.edition.key for p in between} == {
            "daily:2026-11-10T07:00+01:00",
            "daily:2026-11-10T07:00+00:00",
        }
        for n in range(3):  # re-keyed by the source overnight
            site.write(f"s{n}", f"Story {n}", day - timedelta(hours=20), article_id=f"b-{n}")
        gather_and_publish(site.app)
        second = tick(site, day + timedelta(hours=22))  # Tokyo's 07:00 on the 11th
        [tokyo] = [p for p in second if p.edition.key == "daily:2026-11-11T07:00+09:00"]
        status, reason = site.app.store.deliveries.status(tokyo.edition.id)
        assert status is EditionStatus.HELD and "100% of readers" in reason
    finally:
        site.app.close()


def tick(site: Site, moment: datetime) -> list[Any]:
    jobs = Jobs(site.app, clock=lambda: moment)
    found = []
    for minutes in range(0, 181, 5):  # the ticks of the three hours before
        jobs.clock = lambda minutes=minutes: moment - timedelta(minutes=180 - minutes)
        found += jobs.tick()
    return found


def test_an_editors_own_send_is_never_held(site: Site) -> None:
    """The CLI's `send`: the same empty morning that holds the scheduler's daily goes out
    (as an edition with nobody to mail) when an editor sends it by hand."""
    import time_machine

    from publisher.cli.delivery import _send

    _, (status, _) = site.day(1, 0)
    assert status is EditionStatus.HELD
    with time_machine.travel(FIRST + timedelta(days=1, minutes=10), tick=False):
        _send(site.app, "manual", yes=True, as_json=True)
    [manual] = [e for e in site.app.store.editions.history() if e.edition.kind.value == "manual"]
    assert manual.status is EditionStatus.DONE, manual.reason
    assert len(site.mail()) == 1  # the editors heard of the held daily, not of this
