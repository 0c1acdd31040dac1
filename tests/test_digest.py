"""Choosing each subscriber's articles: new only, by id, caps, variants, nothing new → no mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from publisher.digest.editions import new_edition
from publisher.models import EditionKind, EditionRecord
from publisher.pipeline import mailer as build_mailer
from publisher.store.schema import deliveries
from publisher.subscribers.validate import new_subscriber
from tests.conftest import base_settings
from tests.helpers import article, put_articles

GATHERED = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
CUTOFF = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
SECTIONS = [{"slug": s, "title": s.title()} for s in ("world", "opinion", "culture", "business")]


@pytest.fixture
def app(make_app, monkeypatch):
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "test-secret-key-0123456789")
    raw = base_settings(sections=SECTIONS, digest={"max_per_section": 3, "related_links": 2})
    return make_app(raw)


def subscribe(app, email, sections, *, at=GATHERED - timedelta(days=30), **extra):
    item = new_subscriber(
        email, sections=sections, known=[s["slug"] for s in SECTIONS], status="confirmed", **extra
    )
    return app.store.subscribers.add(item, now=at)


def plan(app, cutoff=CUTOFF, kind=EditionKind.DAILY):
    mailer = build_mailer(app)
    edition = new_edition(kind, cutoff, app.settings.site.zone)
    return mailer.plan(edition, list(mailer.audience(edition)))


def chosen(result, email):
    for subscriber, fingerprint in result.recipients:
        if subscriber.email == email:
            return result.variants[fingerprint].ids
    return None


def record(result) -> EditionRecord:
    return EditionRecord(
        variants={fp: v.ids for fp, v in result.variants.items()},
        recipients=[(s.id, fp, f"<{s.id}@x>") for s, fp in result.recipients],
        skipped=result.skipped,
    )


def deliver(app, result, state="sent"):
    """Record the plan's messages, then mark them as a delivery run would."""
    planned = app.store.editions.record(result.edition, lambda: record(result), now=CUTOFF)
    with app.store.db.writing() as conn:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.edition_id == planned.edition.id)
            .values(state=state)
        )


def test_each_subscriber_gets_their_sections_and_shares_a_variant(app):
    put_articles(
        app.store, [article(1, "world"), article(2, "opinion"), article(3, "culture")], now=GATHERED
    )
    subscribe(app, "a@example.com", "world")
    subscribe(app, "b@example.com", "opinion,world")
    subscribe(app, "c@example.com", "world")
    subscribe(app, "d@example.com", "business")
    result = plan(app)
    assert chosen(result, "a@example.com") == ["world/story-1"]
    assert chosen(result, "b@example.com") == ["world/story-1", "opinion/story-2"]  # settings order
    assert chosen(result, "c@example.com") == chosen(result, "a@example.com")
    assert len(result.variants) == 2 and result.skipped == 1
    assert chosen(result, "d@example.com") is None


def test_sent_articles_never_repeat_even_when_edited(app):
    put_articles(app.store, [article(1), article(2)], now=GATHERED)
    subscribe(app, "a@example.com", "world")
    deliver(app, plan(app))
    later = CUTOFF + timedelta(days=1)
    put_articles(
        app.store,
        [article(1, title="Edited headline")],
        changed=True,
        now=later - timedelta(hours=2),
    )
    put_articles(app.store, [article(3)], now=later - timedelta(hours=1))
    assert chosen(plan(app, later), "a@example.com") == ["world/story-3"]


def test_backdated_and_future_dated_articles_neither_repeat_nor_vanish(app):
    subscribe(app, "a@example.com", "world")
    backdated = article(
        1, published=datetime(2026, 10, 1, tzinfo=UTC), updated=datetime(2026, 10, 1, tzinfo=UTC)
    )
    scheduled = article(
        2, published=CUTOFF + timedelta(hours=3), updated=CUTOFF + timedelta(hours=3)
    )
    put_articles(app.store, [backdated, scheduled], now=GATHERED)
    first = plan(app)
    assert chosen(first, "a@example.com") == ["world/story-1"]  # new to us, though dated last month
    deliver(app, first)
    second = plan(app, CUTOFF + timedelta(days=1))
    assert chosen(second, "a@example.com") == ["world/story-2"]  # its date has come
    deliver(app, second)
    assert chosen(plan(app, CUTOFF + timedelta(days=2)), "a@example.com") is None


def test_failed_deliveries_do_not_count_as_sent(app):
    put_articles(app.store, [article(1)], now=GATHERED)
    subscribe(app, "a@example.com", "world")
    deliver(app, plan(app), state="failed")
    assert chosen(plan(app, CUTOFF + timedelta(days=1)), "a@example.com") == ["world/story-1"]


def test_cap_per_section_keeps_the_newest(app):
    put_articles(app.store, [article(n) for n in range(6)] + [article(9, "opinion")], now=GATHERED)
    subscribe(app, "a@example.com", "world,opinion")
    assert chosen(plan(app), "a@example.com") == [
        "world/story-5",
        "world/story-4",
        "world/story-3",
        "opinion/story-9",
    ]


def test_new_subscribers_get_only_what_appeared_around_their_arrival(app):
    put_articles(app.store, [article(1)], now=GATHERED - timedelta(days=2))
    put_articles(app.store, [article(2)], now=GATHERED)
    subscribe(app, "new@example.com", "world", at=GATHERED + timedelta(hours=1))
    subscribe(app, "old@example.com", "world")
    result = plan(app)
    assert chosen(result, "new@example.com") == ["world/story-2"]  # within first_digest_hours
    assert chosen(result, "old@example.com") == ["world/story-2", "world/story-1"]


def test_only_confirmed_subscribers_of_the_edition_frequency(app):
    put_articles(app.store, [article(1)], now=GATHERED)
    subscribe(app, "daily@example.com", "world")
    subscribe(app, "weekly@example.com", "world", frequency="weekly")
    app.store.subscribers.add(new_subscriber("pending@example.com", known=["world"]), now=GATHERED)
    assert [s.email for s, _ in plan(app).recipients] == ["daily@example.com"]
    assert [s.email for s, _ in plan(app, kind=EditionKind.WEEKLY).recipients] == [
        "weekly@example.com"
    ]


def test_nothing_new_means_no_message(app):
    subscribe(app, "a@example.com", "world")
    result = plan(app)
    assert result.recipients == [] and result.skipped == 1
    assert list(build_mailer(app).messages(result)) == []


def test_an_edition_key_is_planned_only_once(app):
    put_articles(app.store, [article(1)], now=GATHERED)
    subscribe(app, "a@example.com", "world")
    mailer = build_mailer(app)
    edition = new_edition(EditionKind.DAILY, CUTOFF, app.settings.site.zone)
    assert edition.key == "daily:2026-11-28"
    first = mailer.record(edition, now=CUTOFF)
    assert first.created and first.deliveries == 1 and first.variants == 1
    later = new_edition(EditionKind.DAILY, CUTOFF + timedelta(hours=5), app.settings.site.zone)
    subscribe(app, "b@example.com", "world")
    again = mailer.record(later, now=CUTOFF)  # the same key: the first plan, nothing added
    assert not again.created and again.edition == first.edition and again.deliveries == 1
    with app.store.db.reading() as conn:
        assert conn.execute(select(func.count()).select_from(deliveries)).scalar_one() == 1
    assert new_edition(EditionKind.WEEKLY, CUTOFF, app.settings.site.zone).key == "weekly:2026-W48"


def test_a_digest_is_capped_in_all_with_a_fair_share_per_section(make_app, monkeypatch):
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "test-secret-key-0123456789")
    raw = base_settings(sections=SECTIONS, digest={"max_per_section": 5, "max_articles": 5})
    app = make_app(raw)
    put_articles(
        app.store,
        [article(n, "world") for n in range(6)] + [article(20 + n, "opinion") for n in range(2)],
        now=GATHERED,
    )
    subscribe(app, "a@example.com", "world,opinion")
    assert chosen(plan(app), "a@example.com") == [
        "world/story-5",
        "world/story-4",
        "world/story-3",
        "opinion/story-21",
        "opinion/story-20",
    ]


def test_an_article_sent_then_re_dated_later_is_not_sent_again(app):
    put_articles(app.store, [article(1)], now=GATHERED)
    subscribe(app, "a@example.com", "world")
    deliver(app, plan(app))
    for day in range(1, 9):
        cutoff = CUTOFF + timedelta(days=day)
        if day == 7:
            moved = article(
                1, published=cutoff - timedelta(hours=1), updated=cutoff - timedelta(hours=1)
            )
            put_articles(app.store, [moved], changed=True, now=cutoff - timedelta(minutes=30))
        assert chosen(plan(app, cutoff), "a@example.com") is None, day


def test_a_withdrawn_article_published_again_later_is_sent(app):
    subscribe(app, "a@example.com", "world")
    put_articles(app.store, [article(1)], now=GATHERED)
    put_articles(
        app.store, [article(1, draft=True)], changed=True, now=GATHERED + timedelta(hours=1)
    )
    assert chosen(plan(app), "a@example.com") is None
    restored = CUTOFF + timedelta(days=4) - timedelta(hours=2)
    put_articles(app.store, [article(1)], changed=True, now=restored)
    assert chosen(plan(app, CUTOFF + timedelta(days=4)), "a@example.com") == ["world/story-1"]


def test_fair_share_takes_in_turns():
    """The level rule gives what taking one article a section in turns gives."""
    import random

    from publisher.digest.plan import _fair_share

    def in_turns(per_section, limit):
        counts, left = [0] * len(per_section), limit
        while left and any(c < len(t) for c, t in zip(counts, per_section, strict=True)):
            for index, taken in enumerate(per_section):
                if left and counts[index] < len(taken):
                    counts[index] += 1
                    left -= 1
        return [taken[:count] for taken, count in zip(per_section, counts, strict=True)]

    rng = random.Random(1)
    for _ in range(2000):
        per_section = [list(range(rng.randint(0, 12))) for _ in range(rng.randint(0, 20))]
        limit = rng.randint(1, 60)
        assert _fair_share(per_section, limit) == in_turns(per_section, limit)
