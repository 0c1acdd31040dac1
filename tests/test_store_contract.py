"""The store's contract: every operation behaves the same on SQLite and on PostgreSQL (each
test runs on both through the `store` fixture), with explicit clocks and no sleeping."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from publisher.errors import UserError
from publisher.models import DeliveryState as D
from publisher.models import Edition, EditionKind, EditionRecord, Frequency, Result
from publisher.models import EditionStatus as E
from publisher.models import SubscriberStatus as S
from publisher.store import Store
from publisher.store.schema import daily_served, deliveries, subscribers
from publisher.store.subscribers import NewSubscriber, _due
from tests.helpers import article, put_articles

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
LATER = NOW + LEASE
WEEKLY, DAILY = Frequency.WEEKLY, Frequency.DAILY


def new(n: int, **changes: Any) -> NewSubscriber:
    values = {"email": f"r{n}@example.com", "name": f"R {n}", "sections": ("world",)}
    return NewSubscriber(**(values | changes))


def readers(store: Store, count: int) -> list[int]:
    """`count` confirmed daily readers; their ids in order."""
    store.subscribers.add_many((new(n, status=S.CONFIRMED) for n in range(count)), now=NOW)
    return [s.id for s in store.subscribers.iter()]


def plan(store: Store, key: str, ids: list[int], *, sending: bool = True, **at: Any) -> int:
    """An edition of one variant (`articles`) with a queued row per reader; its id."""
    cutoff, now = at.get("cutoff", NOW), at.get("now", NOW)
    record = EditionRecord(
        variants={"v1": list(at.get("articles", ["world/story-1"]))},
        recipients=[(i, "v1", f"<{key}.{i}@todaypress.example>") for i in ids],
    )
    edition = Edition(key=key, kind=EditionKind.MANUAL, cutoff=cutoff)
    edition_id = store.editions.record(edition, lambda: record, now=now).edition.id
    assert edition_id is not None
    if sending:
        assert store.deliveries.set_status(edition_id, E.SENDING)
    return edition_id


def rows(store: Store) -> dict[int, Any]:
    with store.db.reading() as conn:
        return {r.id: r for r in conn.execute(select(deliveries).order_by(deliveries.c.id))}


def claim(store: Store, owner: str = "a", limit: int = 100, **at: Any) -> list[int]:
    now = at.pop("now", NOW)
    until = at.pop("until", now + LEASE)
    found = store.deliveries.claim(owner=owner, limit=limit, lease_until=until, now=now, **at)
    return [c.id for c in found]


# -- subscribers ---------------------------------------------------------------------------
def test_subscribers_add_and_look_up(store: Store):
    subs = store.subscribers
    ana = subs.add(new(1, sections=("world", "culture"), frequency=WEEKLY), now=NOW)
    found = (ana.email, ana.name, ana.status, ana.frequency, ana.sections, ana.created_at)
    assert found == ("r1@example.com", "R 1", S.PENDING, WEEKLY, ("world", "culture"), NOW)
    assert ana.created_at.tzinfo is not None and ana.confirmed_at is None
    assert len(ana.secret) == 32
    jun = subs.add(new(2, status=S.CONFIRMED), now=LATER)
    assert jun.confirmed_at == LATER == jun.since
    with pytest.raises(UserError, match="already subscribed"):
        subs.add(new(1), now=NOW)
    assert subs.by_email("r1@example.com") == ana
    assert subs.by_email("R1@example.com") is None  # callers normalise addresses
    assert subs.by_id(jun.id) == jun and subs.by_id(jun.id + 100) is None
    assert subs.by_ids([jun.id, ana.id, jun.id, 999]) == {ana.id: ana, jun.id: jun}
    assert subs.by_ids([]) == {}


def test_an_id_out_of_the_column_range_is_unknown(store: Store):
    # The ids come from unverified reader tokens (up to 18 digits): on PostgreSQL an int4
    # column would raise "integer out of range" for them.
    assert store.subscribers.by_ids([2**31, 10**18 - 1]) == {}
    assert store.subscribers.by_id(2**31) is None
    assert store.editions.by_id(2**31) is None


def test_add_many_is_all_or_nothing_and_existing_emails(store: Store):
    subs = store.subscribers
    assert subs.add_many([], now=NOW) == 0
    assert subs.add_many((new(n) for n in range(3)), now=NOW) == 3
    # add_many does not skip duplicates: the caller drops known addresses (existing_emails)
    # first, and a duplicate fails the whole batch.
    with pytest.raises(IntegrityError):
        subs.add_many([new(10), new(1)], now=NOW)
    with pytest.raises(IntegrityError):
        subs.add_many([new(11), new(11)], now=NOW)
    assert subs.existing_emails(["r10@example.com", "r11@example.com"]) == set()
    asked = [f"r{n}@example.com" for n in range(-600, 2)]  # more than one IN (...) chunk
    assert subs.existing_emails(asked) == {"r0@example.com", "r1@example.com"}
    assert subs.existing_emails([]) == set()
    assert len(list(subs.iter())) == 3


def test_iter_filters_by_status_frequency_and_shard(store: Store):
    status = [S.PENDING, S.CONFIRMED, S.UNSUBSCRIBED, S.BOUNCED]
    people = (new(n, status=status[n % 4], frequency=DAILY if n % 3 else WEEKLY) for n in range(12))
    store.subscribers.add_many(people, now=NOW)
    everyone = list(store.subscribers.iter())
    ids = [s.id for s in everyone]
    assert ids == sorted(ids) and len(ids) == 12
    number = {s.id: int(s.email[1:].split("@")[0]) for s in everyone}

    def numbers(**filters: Any) -> list[int]:
        return [number[s.id] for s in store.subscribers.iter(**filters)]

    assert numbers(status=S.CONFIRMED) == [1, 5, 9]
    assert numbers(frequency=WEEKLY) == [0, 3, 6, 9]
    assert numbers(status=S.CONFIRMED, frequency=WEEKLY) == [9]
    shards = [[s.id for s in store.subscribers.iter(shard=(k, 3))] for k in range(3)]
    assert sorted(shards[0] + shards[1] + shards[2]) == ids
    assert all(i % 3 == k for k, shard in enumerate(shards) for i in shard)
    combined = store.subscribers.iter(frequency=DAILY, status=S.PENDING, shard=(1, 2))
    assert [s.id for s in combined] == [i for i in ids if number[i] in (4, 8) and i % 2 == 1]


def test_status_confirm_preferences_and_remove(store: Store):
    subs = store.subscribers
    ana, jun = subs.add(new(1), now=NOW), subs.add(new(2), now=NOW)
    assert subs.confirm(ana.id, now=LATER)
    assert (subs.by_id(ana.id).status, subs.by_id(ana.id).confirmed_at) == (S.CONFIRMED, LATER)
    assert not subs.confirm(ana.id, now=LATER + LEASE)  # only from pending
    assert subs.by_id(ana.id).confirmed_at == LATER
    assert subs.set_status(jun.id, S.UNSUBSCRIBED, now=LATER)
    assert not subs.confirm(jun.id, now=LATER)
    assert subs.by_id(jun.id).status is S.UNSUBSCRIBED and subs.by_id(jun.id).confirmed_at is None
    assert not subs.set_status(999, S.CONFIRMED, now=LATER)
    assert not subs.confirm(999, now=LATER)
    sections = ("culture", "business")
    assert subs.set_preferences(ana.id, sections=sections, frequency=WEEKLY, now=LATER)
    assert (subs.by_id(ana.id).sections, subs.by_id(ana.id).frequency) == (sections, WEEKLY)
    assert not subs.set_preferences(999, sections=(), frequency=DAILY, now=LATER)
    edition_id = plan(store, "e", [ana.id, jun.id])
    assert subs.remove("r1@example.com") and not subs.remove("r1@example.com")
    assert subs.by_email("r1@example.com") is None and subs.by_id(jun.id) is not None
    assert [r.subscriber_id for r in rows(store).values()] == [jun.id]  # their rows went too
    assert store.deliveries.counts(edition_id)[D.QUEUED] == 1


# -- articles ------------------------------------------------------------------------------
def test_newest_by_section_limit_drafts_and_date(store: Store):
    ties = [  # the same date as story 2: ordered by id, in byte order ("B" before "a")
        article(2, id=f"world/{c}-tie", url=f"https://todaypress.example/t/{c}") for c in "aB"
    ]
    scheduled = article(6, published=NOW + timedelta(days=3))
    extra = [article(4, "culture"), article(5, draft=True), scheduled, *ties]
    put_articles(store, [article(n) for n in (1, 2, 3)] + extra, now=NOW)
    ids = [a.id for a in store.articles.newest()]
    newest = ["story-6", "culture/story-4", "story-3", "B-tie", "a-tie", "story-2", "story-1"]
    assert ids == [i if "/" in i else f"world/{i}" for i in newest]
    assert store.articles.newest()[2] == article(3)
    with_drafts = [a.id for a in store.articles.newest(drafts=True)]
    assert with_drafts == [ids[0], "world/story-5", *ids[1:]]
    world = store.articles.newest(section="world", limit=2, published_by=NOW)
    assert [a.id for a in world] == ["world/story-3", "world/B-tie"]
    assert store.articles.newest(section="sport") == []
    by_story_2 = store.articles.newest(published_by=article(2).published)  # inclusive
    assert [a.id for a in by_story_2] == ids[3:]


def test_by_ids_get_by_url_and_count(store: Store):
    future = NOW + timedelta(days=1)
    drafted, scheduled = article(2, draft=True), article(3, published=future)
    put_articles(store, [article(1), drafted, scheduled], now=NOW)
    found = store.articles.by_ids(["world/story-2", "world/story-1", "nope"])
    assert found.keys() == {"world/story-1", "world/story-2"}
    stored, content_hash, changed = found["world/story-2"]
    assert stored == drafted and len(content_hash) > 10 and changed == NOW
    assert store.articles.by_ids([]) == {}
    assert store.articles.get("world/story-1") == article(1)
    assert store.articles.get("nope") is None
    url = "https://todaypress.example/world/story-{}/"
    assert store.articles.by_url(url.format(1), published_by=NOW) == article(1)
    assert store.articles.by_url(url.format(2), published_by=future) is None  # a draft
    assert store.articles.by_url(url.format(3), published_by=NOW) is None  # not yet
    assert store.articles.by_url(url.format(3), published_by=future) == scheduled
    assert store.articles.by_url("https://elsewhere.example/", published_by=future) is None
    assert store.articles.count() == 3


def test_change_log(store: Store):
    hour = timedelta(hours=1)
    put_articles(store, [article(2), article(1)], now=NOW)
    put_articles(store, [article(3)], now=NOW + hour)
    put_articles(store, [article(1, title="New")], changed=True, now=NOW + 2 * hour)
    log = store.articles.change_log(NOW.astimezone(timezone(timedelta(hours=-5))))
    assert [(i, t) for i, _, t in log] == [
        ("world/story-2", NOW),
        ("world/story-3", NOW + hour),
        ("world/story-1", NOW + 2 * hour),
    ]
    assert log[0][2].tzinfo is not None and len(log[0][1]) > 10  # (id, content hash, when)
    since = [i for i, _, _ in store.articles.change_log(NOW + hour)]
    assert since == ["world/story-3", "world/story-1"]
    assert store.articles.change_log(NOW + timedelta(days=1)) == []


# -- editions ------------------------------------------------------------------------------
def test_an_edition_is_recorded_once(store: Store):
    ids = readers(store, 3)
    record = EditionRecord(
        variants={"b": ["w/2", "w/1"], "a": ["w/3"]},
        recipients=[(ids[2], "a", "<2@x>"), (ids[0], "b", "<0@x>"), (ids[1], "a", "<1@x>")],
        skipped=4,
    )
    calls: list[str] = []
    edition = Edition(key="daily:2026-11-28", kind=EditionKind.DAILY, cutoff=NOW)
    first = store.editions.record(edition, lambda: calls.append("plan") or record, now=NOW)
    assert (first.created, first.variants, first.deliveries, first.skipped) == (True, 2, 3, 4)
    assert first.edition.id is not None and calls == ["plan"]
    again = store.editions.record(edition, lambda: pytest.fail("planned twice"), now=LATER)
    assert again.created is False and again.edition == first.edition
    assert (again.variants, again.deliveries, again.skipped) == (2, 3, 4)
    assert len(rows(store)) == 3 and len(store.editions.history()) == 1
    assert store.editions.get(edition.key) == again
    assert store.editions.get("daily:1999-01-01") is None
    assert store.editions.by_id(first.edition.id) == first.edition
    assert store.editions.by_id(first.edition.id + 1) is None
    variants = store.editions.variants(first.edition.id)
    assert sorted(variants.values()) == [("a", ["w/3"]), ("b", ["w/2", "w/1"])]
    vid = {fp: variant for variant, (fp, _) in variants.items()}
    found = [
        (r.subscriber_id, r.variant_id, r.message_id, r.attempts) for r in rows(store).values()
    ]
    assert found == [  # queued by variant, then by reader
        (ids[1], vid["a"], "<1@x>", 0),
        (ids[2], vid["a"], "<2@x>", 0),
        (ids[0], vid["b"], "<0@x>", 0),
    ]
    assert {r.state for r in rows(store).values()} == {"queued"}
    assert store.editions.variants(999) == {}


def test_history_counts_deliveries_by_state(store: Store):
    ids = readers(store, 3)
    old = plan(store, "old", ids[:1], now=NOW)
    new_id = plan(store, "new", ids, now=LATER, sending=False)
    assert store.deliveries.set_status(new_id, E.PAUSED, reason="errors")
    store.deliveries.record("a", [Result(id=claim(store)[0], state=D.SENT)], now=NOW)
    newest, oldest = store.editions.history()
    assert (newest.edition.key, newest.edition.id, oldest.edition.key) == ("new", new_id, "old")
    assert (newest.status, newest.reason, newest.recipients) == (E.PAUSED, "errors", 3)
    assert (newest.created_at, newest.edition.cutoff, newest.skipped) == (LATER, NOW, 0)
    assert newest.states == {s: (3 if s is D.QUEUED else 0) for s in D}
    assert oldest.states == {s: (1 if s is D.SENT else 0) for s in D}
    assert (oldest.status, oldest.edition.id) == (E.SENDING, old)
    assert [p.edition.key for p in store.editions.history(limit=1)] == ["new"]


def test_sent_and_sent_earlier(store: Store):
    ids = readers(store, 3)
    first = plan(store, "d1", ids, cutoff=NOW - timedelta(days=1), articles=["a1", "a2"])
    plan(store, "d2", ids[:2], cutoff=NOW, articles=["a3"])
    one, two, _ = claim(store, edition_id=first)
    failed, sent = Result(id=one, state=D.FAILED, error="x"), Result(id=two, state=D.SENT)
    store.deliveries.record("a", [failed, sent], now=NOW)
    assert store.editions.sent(since=NOW) == {ids[0]: {"a3"}, ids[1]: {"a3"}}
    assert store.editions.sent(since=NOW - timedelta(days=1)) == {
        ids[0]: {"a3"},  # the failed row carries nothing
        ids[1]: {"a1", "a2", "a3"},
        ids[2]: {"a1", "a2"},  # still claimed: it carries
    }
    some = store.editions.sent(since=NOW - timedelta(days=1), subscribers=[ids[0], ids[2]])
    assert some == {ids[0]: {"a3"}, ids[2]: {"a1", "a2"}}  # the failed row left out here too
    earlier = store.editions.sent_earlier({"a2", "a3", "zz"}, before=NOW)
    assert earlier == {ids[1]: {"a2"}, ids[2]: {"a2"}}
    assert store.editions.sent_earlier({"a3"}, before=NOW) == {}


def test_a_slot_marks_its_readers_served_for_its_local_date(store: Store):
    ids = readers(store, 3)
    tokyo = dict.fromkeys(ids[:2], "Asia/Tokyo")
    for reader, zone in tokyo.items():
        store.subscribers.set_preferences(
            reader, sections=("world",), frequency=DAILY, now=NOW, timezone=zone
        )

    def due(local_date: str) -> list[int]:
        return [s.id for s in store.subscribers.due("Asia/Tokyo", None, local_date)]

    def slot(key: str, local_date: str, served: list[int]) -> None:
        record = EditionRecord(
            variants={"v": ["w/1"]},
            recipients=[(i, "v", f"<{key}.{i}@x>") for i in served[:1]],
            skipped=len(served) - 1,  # served: those with nothing new too
            served=tuple(served),
            local_date=local_date,
        )
        edition = Edition(key=key, kind=EditionKind.DAILY, cutoff=NOW)
        store.editions.record(edition, lambda: record, now=NOW)

    assert due("2026-11-29") == ids[:2]
    slot("daily:2026-11-29T07:00+09:00", "2026-11-29", ids[:2])
    assert due("2026-11-29") == [] and due("2026-11-28") == []  # not again, not an earlier day
    assert store.subscribers.any_due("Asia/Tokyo", None, "2026-11-29") is False
    assert due("2026-11-30") == ids[:2]
    slot("daily:2026-11-30T07:00+09:00", "2026-11-30", ids[:1])  # a mark moves forward
    assert due("2026-11-30") == ids[1:2]
    assert store.subscribers.remove("r0@example.com")  # and goes with its reader
    assert due("2026-12-01") == ids[1:2]
    slot("daily:2026-12-01T07:00+09:00", "2026-12-01", [ids[1], ids[1]])  # named twice
    assert due("2026-12-01") == []
    assert marks(store) == [(ids[1], "2026-12-01")]  # r0's went with r0
    assert store.subscribers.remove("r1@example.com")
    assert marks(store) == []


def marks(store: Store) -> list[tuple[int, str]]:
    query = select(daily_served.c.subscriber_id, daily_served.c.local_date)
    with store.db.reading() as conn:
        return [tuple(mark) for mark in conn.execute(query)]


def test_senders_share_by_places_that_expire(store: Store):
    leases = store.leases
    a = "h" * 140 + ":123:abcdef"  # longer than a lease name: the place is named by a hash
    after = timedelta(seconds=3)
    assert leases.share("sender", a, now=NOW, until=NOW + after) == 1
    assert leases.share("sender", "b", now=NOW, until=NOW + after) == 2
    assert leases.share("other", "c", now=NOW, until=NOW + after) == 1
    later = NOW + timedelta(seconds=2)
    assert leases.share("sender", a, now=later, until=later + after) == 2
    gone = NOW + timedelta(seconds=4)  # b stopped counting (died): its place is forgotten
    assert leases.share("sender", a, now=gone, until=gone + after) == 1
    assert leases.leave("sender", a) and not leases.leave("sender", a)
    assert leases.share("sender", "b", now=gone, until=gone + after) == 1  # b alone, again


# -- deliveries ----------------------------------------------------------------------------
def test_claim_takes_ready_rows_of_sending_editions_in_order(store: Store):
    ids = readers(store, 5)
    planned = plan(store, "planned", ids, sending=False)
    sending = plan(store, "sending", ids)
    theirs = [i for i, r in rows(store).items() if r.edition_id == sending]
    found = store.deliveries.claim(owner="a", limit=2, lease_until=LATER, now=NOW)
    assert [c.id for c in found] == theirs[:2]
    row = rows(store)[found[0].id]
    assert (found[0].edition_id, found[0].subscriber_id, found[0].attempts) == (sending, ids[0], 0)
    assert (found[0].message_id, found[0].variant_id) == (row.message_id, row.variant_id)
    held = (row.state, row.lease_owner, row.lease_until, row.updated_at)
    assert held == ("sending", "a", LATER, NOW)
    assert claim(store, "b", 2) == theirs[2:4]
    assert claim(store, "b", 2, edition_id=planned) == []
    assert claim(store, "b", 10) == theirs[4:]
    assert claim(store, "b", 10) == []
    assert store.deliveries.set_status(planned, E.SENDING)
    assert claim(store, "c", 0) == []
    assert claim(store, "c", 10, edition_id=planned) == sorted(set(rows(store)) - set(theirs))
    assert store.deliveries.sending_editions() == [planned, sending]


def test_a_lease_keeps_a_row_until_it_ends(store: Store):
    edition_id = plan(store, "e", readers(store, 2))
    held = claim(store, "a", until=LATER)
    assert claim(store, "b", now=NOW + timedelta(minutes=1)) == []
    assert claim(store, "a", now=NOW + timedelta(minutes=1)) == []  # not even by its owner
    assert claim(store, "b", now=LATER) == []  # a lease ends after `lease_until`
    after = LATER + timedelta(seconds=1)
    again = store.deliveries.claim(owner="b", limit=10, lease_until=after + LEASE, now=after)
    assert [c.id for c in again] == held and {c.attempts for c in again} == {0}
    store.deliveries.record("a", [Result(id=held[0], state=D.SENT)], now=after)  # a lost it
    assert rows(store)[held[0]].lease_owner == "b"
    assert store.deliveries.counts(edition_id)[D.SENDING] == 2


def test_record_each_outcome(store: Store):
    ids = readers(store, 4)
    edition_id = plan(store, "e", ids)
    sent, deferred, bounced, failed = claim(store)
    retry = NOW + timedelta(minutes=30)
    results = [
        Result(id=sent, state=D.SENT),
        Result(id=deferred, state=D.DEFERRED, error="451 busy", retry_at=retry),
        Result(id=bounced, state=D.BOUNCED, error="550 no such user", subscriber_id=ids[2]),
        Result(id=failed, state=D.FAILED, error="554 policy"),
    ]
    store.deliveries.record("a", results, now=LATER)
    found = [
        (r.state, r.attempts, r.last_error, r.next_attempt_at, r.sent_at, r.updated_at)
        for r in rows(store).values()
    ]
    assert found == [
        ("sent", 1, None, None, LATER, LATER),
        ("deferred", 1, "451 busy", retry, None, LATER),
        ("bounced", 1, "550 no such user", None, None, LATER),
        ("failed", 1, "554 policy", None, None, LATER),
    ]
    assert {(r.lease_owner, r.lease_until) for r in rows(store).values()} == {(None, None)}
    statuses = [store.subscribers.by_id(i).status for i in ids]
    assert statuses == [S.CONFIRMED, S.CONFIRMED, S.BOUNCED, S.CONFIRMED]
    assert claim(store, "b", now=retry - timedelta(seconds=1)) == []  # not due yet
    retried = store.deliveries.claim(owner="b", limit=9, lease_until=retry + LEASE, now=retry)
    assert [(c.id, c.attempts) for c in retried] == [(deferred, 1)]
    assert claim(store, "c", now=retry) == []  # due once: now it is claimed
    store.deliveries.record("b", [Result(id=deferred, state=D.SENT)], now=retry)
    row = rows(store)[deferred]
    assert (row.state, row.attempts, row.last_error, row.sent_at) == ("sent", 2, "451 busy", retry)
    assert row.next_attempt_at is None
    store.deliveries.record("b", [], now=retry)
    counts = store.deliveries.counts(edition_id)
    assert counts == {s: {D.SENT: 2, D.BOUNCED: 1, D.FAILED: 1}.get(s, 0) for s in D}
    assert store.deliveries.counts(999) == dict.fromkeys(D, 0)


def test_extend_and_release(store: Store):
    edition_id = plan(store, "e", readers(store, 3))
    one, two, three = claim(store, "a")
    deferred = Result(id=one, state=D.DEFERRED, error="451", retry_at=NOW)
    store.deliveries.record("a", [deferred], now=NOW)
    assert claim(store, "a", now=NOW) == [one]
    longer = LATER + timedelta(hours=1)
    assert store.deliveries.extend("b", [one, two], lease_until=longer) == 0
    assert store.deliveries.extend("a", [one, two, 999], lease_until=longer) == 2
    leases = {r.id: r.lease_until for r in rows(store).values()}
    assert leases == {one: longer, two: longer, three: LATER}
    assert claim(store, "b", now=LATER + timedelta(seconds=1)) == [three]
    store.deliveries.release("b", [one, two], now=LATER)  # b holds neither: nothing changes
    assert {rows(store)[i].lease_owner for i in (one, two)} == {"a"}
    store.deliveries.release("a", [one, two], now=LATER)
    found = rows(store)
    back = [(found[i].state, found[i].attempts, found[i].lease_until) for i in (one, two)]
    assert back == [("deferred", 1, None), ("queued", 0, None)]
    assert found[one].lease_owner is None and found[one].next_attempt_at == NOW
    assert store.deliveries.extend("a", [one, two], lease_until=longer) == 0
    assert claim(store, "c", now=LATER) == [one, two]  # ready again at once, for anyone
    assert store.deliveries.counts(edition_id)[D.SENDING] == 3


def test_next_due(store: Store):
    edition_id = plan(store, "e", readers(store, 3))
    assert store.deliveries.next_due(edition_id, now=NOW) == NOW  # queued rows
    one, two, three = claim(store, "a", until=LATER)
    due = store.deliveries.next_due(edition_id, now=NOW)
    assert due == LATER and due.tzinfo is not None  # the lease's end
    retry, minute = NOW + timedelta(minutes=2), timedelta(minutes=1)
    results = [
        Result(id=one, state=D.DEFERRED, retry_at=retry + minute),
        Result(id=two, state=D.DEFERRED, retry_at=retry),
    ]
    store.deliveries.record("a", results, now=NOW)
    assert store.deliveries.next_due(edition_id, now=NOW) == retry  # before the lease's end
    store.deliveries.record("a", [Result(id=three, state=D.FAILED, error="5")], now=NOW)
    assert store.deliveries.next_due(edition_id, now=NOW) == retry  # the earliest retry
    assert claim(store, "b", now=retry + minute) == [one, two]
    store.deliveries.record("b", [Result(id=i, state=D.SENT) for i in (one, two)], now=retry)
    assert store.deliveries.next_due(edition_id, now=NOW) is None
    assert store.deliveries.next_due(999, now=NOW) is None


def test_edition_status_and_finishing(store: Store):
    ids = readers(store, 2)
    first = plan(store, "first", ids, sending=False)
    second = plan(store, "second", ids, sending=False)
    assert store.deliveries.status(first) == (E.PLANNED, "")
    assert not store.deliveries.set_status(first, E.SENDING, only_from=[E.PAUSED, E.HELD])
    assert store.deliveries.set_status(first, E.HELD, reason="needs an editor")
    assert store.deliveries.status(first) == (E.HELD, "needs an editor")
    assert store.deliveries.set_status(first, E.SENDING, only_from=[E.PAUSED, E.HELD])
    assert store.deliveries.status(first) == (E.SENDING, "")
    assert not store.deliveries.set_status(999, E.DONE)
    assert store.deliveries.set_status(second, E.SENDING)
    assert store.deliveries.sending_editions() == [first, second]
    assert not store.deliveries.finish_if_done(first)  # queued rows
    held = claim(store, edition_id=first)
    assert not store.deliveries.finish_if_done(first)  # rows in flight
    results = [Result(id=held[0], state=D.SENT), Result(id=held[1], state=D.BOUNCED)]
    store.deliveries.record("a", results, now=NOW)
    assert store.deliveries.finish_if_done(first)
    assert store.deliveries.status(first) == (E.DONE, "")
    assert store.deliveries.finish_if_done(first)  # already done
    assert store.deliveries.sending_editions() == [second]
    store.deliveries.record("a", [Result(id=i, state=D.SENT) for i in claim(store)], now=NOW)
    assert store.deliveries.set_status(second, E.PAUSED, reason="errors")
    assert not store.deliveries.finish_if_done(second)  # only a sending edition finishes
    assert store.deliveries.status(second) == (E.PAUSED, "errors")


def test_two_claimers_at_once_never_share_a_row(store: Store, store_url: str):
    plan(store, "e", readers(store, 60))
    everything = set(rows(store))
    stores = [Store.open(store_url), Store.open(store_url)]
    barrier = threading.Barrier(2)

    def take(n: int) -> list[int]:
        barrier.wait(timeout=20)
        return claim(stores[n], f"w{n}", 2)

    taken: list[list[int]] = [[], []]
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for _ in range(40):  # about 15 rounds empty the queue
                got = [f.result(timeout=60) for f in [pool.submit(take, n) for n in (0, 1)]]
                assert len(got[0]) <= 2 and len(got[1]) <= 2
                assert not set(got[0]) & set(got[1])
                taken[0] += got[0]
                taken[1] += got[1]
                if not got[0] and not got[1]:
                    break
    finally:
        for opened in stores:
            opened.close()
    assert not set(taken[0]) & set(taken[1])
    assert len(taken[0]) + len(taken[1]) == len(everything) == 60
    assert set(taken[0]) | set(taken[1]) == everything
    owners = {r.id: r.lease_owner for r in rows(store).values()}
    assert owners == {i: f"w{n}" for n in (0, 1) for i in taken[n]}


def test_a_bulk_add_leaves_postgresql_statistics_that_pick_the_ticks_index(store: Store):
    """After thousands of readers come in at once, a tick's question (one zone's readers)
    goes through the (timezone, hour, status, frequency) index at once, not through
    (status, frequency) reading every reader while autovacuum has not come by yet."""
    if not store.db.is_postgresql:
        pytest.skip("SQLite picks the index by its shape (see schema.py)")
    zones = ["Asia/Tokyo", "Europe/Paris", "America/Lima", "UTC"] * 5
    people = (new(n, status=S.CONFIRMED, timezone=zones[n % len(zones)]) for n in range(4000))
    store.subscribers.add_many(people, now=NOW)
    query = _due(select(subscribers.c.id), "Asia/Tokyo", None, "2026-12-02")
    sql = str(query.compile(store.db.engine, compile_kwargs={"literal_binds": True}))
    with store.db.reading() as conn:
        plan = "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {sql}")))
    assert "ix_subscribers_timezone_hour_status_frequency" in plan, plan
