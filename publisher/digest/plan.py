"""Choosing each subscriber's articles for an edition and grouping subscribers into variants.

Articles already sent to a subscriber are tracked by id (through the variants of their past
deliveries), not by a date watermark, so backdated, future-dated and edited articles neither
repeat nor vanish.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from publisher.digest.editions import variant_fingerprint
from publisher.models import Article, Edition, Subscriber
from publisher.store.editions import EditionStore

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One set of articles (in section order, newest first within a section) and its identity."""

    fingerprint: str
    articles: tuple[Article, ...]
    language: str = ""  # the language of the digest's own words; "": the site's

    @property
    def ids(self) -> list[str]:
        """The article ids, in order."""
        return [article.id for article in self.articles]


@dataclass(kw_only=True)
class EditionPlan:
    """Who gets which variant of an edition, and how many confirmed subscribers get nothing."""

    edition: Edition
    variants: dict[str, Variant] = field(default_factory=dict)
    recipients: list[tuple[Subscriber, str]] = field(default_factory=list)
    skipped: int = 0


@dataclass(frozen=True, kw_only=True)
class Fresh:
    """The articles an edition may carry, by section, newest first, with when each appeared."""

    by_section: dict[str, list[tuple[Article, datetime]]]
    oldest: datetime
    _newest: dict[tuple[str, int], list[Article]] = field(default_factory=dict)

    def taken(self, section: str, sent: set[str], since: datetime, cap: int) -> list[Article]:
        """A section's newest `cap` articles not in `sent` that appeared since `since`."""
        if not sent and since <= self.oldest:  # most readers: the same list, made once
            key = (section, cap)
            if key not in self._newest:
                self._newest[key] = [a for a, _ in self.by_section.get(section, ())[:cap]]
            return self._newest[key]
        taken: list[Article] = []
        for article, visible in self.by_section.get(section, ()):
            if len(taken) == cap:
                break
            if article.id not in sent and visible >= since:
                taken.append(article)
        return taken

    def in_languages(self, languages: frozenset[str], site_language: str) -> Fresh:
        """Only the articles in these languages (an article without one is in the site's;
        a reader's "es" takes "es-MX" articles too)."""

        def readable(article: Article) -> bool:
            tag = (article.language or site_language).lower()
            return tag in languages or tag.split("-", 1)[0] in languages

        by_section = {
            section: [pair for pair in pairs if readable(pair[0])]
            for section, pairs in self.by_section.items()
        }
        return Fresh(by_section=by_section, oldest=self.oldest)

    @classmethod
    def of(cls, candidates: Iterable[tuple[Article, datetime, datetime]]) -> Fresh:
        by_section: dict[str, list[tuple[Article, datetime]]] = defaultdict(list)
        oldest = None
        for article, visible, _ in candidates:
            by_section[article.section].append((article, visible))
            oldest = visible if oldest is None else min(oldest, visible)
        return cls(by_section=dict(by_section), oldest=oldest or EPOCH)


def choose(
    subscriber: Subscriber,
    fresh: Fresh,
    sent: set[str],
    *,
    section_order: Sequence[str],
    cap: int,
    limit: int = 40,
    grace: timedelta = timedelta(0),
) -> tuple[Article, ...]:
    """The articles this subscriber gets: their sections, not yet sent, and not older than the
    subscriber (less `grace`, so that a first digest is not empty)."""
    since = subscriber.since - grace
    chosen = set(subscriber.sections)
    per_section = [
        fresh.taken(section, sent, since, cap) for section in section_order if section in chosen
    ]
    return tuple(article for taken in _fair_share(per_section, limit) for article in taken)


def _fair_share(per_section: list[list[Article]], limit: int) -> list[list[Article]]:
    """Each section's newest articles, taken in turns until `limit` (a digest Gmail won't clip).

    Taking in turns gives every section the same number up to a level (or all it has), and
    one more to the first sections that have more, until the limit."""
    sizes = [len(taken) for taken in per_section]
    if sum(sizes) <= limit:
        return per_section
    level = 0
    while sum(min(size, level + 1) for size in sizes) <= limit:
        level += 1
    counts = [min(size, level) for size in sizes]
    left = limit - sum(counts)
    for index, size in enumerate(sizes):
        if left and size > level:
            counts[index] += 1
            left -= 1
    return [taken[:count] for taken, count in zip(per_section, counts, strict=True)]


def _already_sent(
    editions: EditionStore,
    candidates: list[tuple[Article, datetime, datetime]],
    since: datetime,
    readers: Collection[int] | None = None,
) -> dict[int, set[str]]:
    """What each subscriber (of `readers`, when given) was sent of these candidates: editions
    since `since`, and for an article that was public before then (its date moved later
    since), any earlier edition."""
    sent = editions.sent(since=since, subscribers=readers)
    older = {article.id for article, _, public in candidates if public < since}
    if older:
        for subscriber_id, ids in editions.sent_earlier(older, before=since).items():
            sent.setdefault(subscriber_id, set()).update(ids)
    return sent


@dataclass(frozen=True, kw_only=True)
class Planner:
    """What choosing every subscriber's articles for an edition needs, read once: the fresh
    articles, what each subscriber was sent, and the rules."""

    edition: Edition
    fresh: Fresh
    sent: dict[int, set[str]]
    section_order: Sequence[str]
    cap: int
    limit: int
    grace: timedelta
    site_language: str = "en"
    words: frozenset[str] = frozenset()  # the languages the digest's words come in
    _by_languages: dict[frozenset[str], Fresh] = field(default_factory=dict)

    def words_for(self, subscriber: Subscriber) -> str:
        """The language of the subscriber's digest: the first they read that the digest's
        words come in, unless that is the site's (""); else the site's ("")."""
        site = self.site_language.lower()
        for language in subscriber.languages:
            for tag in (language, language.split("-", 1)[0]):
                if tag.lower() == site or tag.split("-", 1)[0].lower() == site:
                    return ""
                if tag in self.words:
                    return tag
        return ""

    def fresh_for(self, subscriber: Subscriber) -> Fresh:
        """The fresh articles in the subscriber's languages (all of them when they chose none)."""
        if not subscriber.languages:
            return self.fresh
        key = frozenset(language.lower() for language in subscriber.languages)
        if key not in self._by_languages:
            self._by_languages[key] = self.fresh.in_languages(key, self.site_language.lower())
        return self._by_languages[key]

    @property
    def articles(self) -> list[Article]:
        """Every article the edition may carry."""
        return [a for pairs in self.fresh.by_section.values() for a, _ in pairs]

    def plan(self, subscribers: Iterable[Subscriber]) -> EditionPlan:
        """Every subscriber's variant of the edition; subscribers with nothing new are
        skipped."""
        plan = EditionPlan(edition=self.edition)
        common: dict[tuple[tuple[str, ...], ...], tuple[tuple[Article, ...], str]] = {}
        rules: dict[str, Any] = {
            "section_order": self.section_order,
            "cap": self.cap,
            "limit": self.limit,
            "grace": self.grace,
        }
        for subscriber in subscribers:
            history = self.sent.get(subscriber.id)
            fresh = self.fresh_for(subscriber)
            words = self.words_for(subscriber)
            if history is None and subscriber.since - self.grace <= self.fresh.oldest:
                # No history, older than every candidate: the choice depends on sections
                # and languages only.
                key = (subscriber.sections, subscriber.languages)
                if key not in common:
                    shared = choose(subscriber, fresh, set(), **rules)
                    common[key] = (shared, variant_fingerprint((a.id for a in shared), words))
                chosen, fingerprint = common[key]
            else:
                chosen = choose(subscriber, fresh, history or set(), **rules)
                fingerprint = variant_fingerprint((article.id for article in chosen), words)
            if not chosen:
                plan.skipped += 1
                continue
            if fingerprint not in plan.variants:
                plan.variants[fingerprint] = Variant(
                    fingerprint=fingerprint, articles=chosen, language=words
                )
            plan.recipients.append((subscriber, fingerprint))
        return plan


def planner(
    editions: EditionStore,
    edition: Edition,
    *,
    section_order: Sequence[str],
    cap: int,
    lookback: timedelta,
    limit: int = 40,
    grace: timedelta = timedelta(0),
    readers: Collection[int] | None = None,
    site_language: str = "en",
    words: Collection[str] = (),
) -> Planner:
    """The planner of an edition: its fresh articles and what each subscriber (of `readers`,
    when only they are planned: a local-morning slot) was sent."""
    since = edition.cutoff - lookback
    candidates = editions.candidates(since=since, cutoff=edition.cutoff)
    return Planner(
        edition=edition,
        fresh=Fresh.of(candidates),
        sent=_already_sent(editions, candidates, since - lookback, readers),
        section_order=section_order,
        cap=cap,
        limit=limit,
        grace=grace,
        site_language=site_language,
        words=frozenset(words),
    )


def latest_plan(
    edition: Edition,
    subscriber: Subscriber,
    newest: Iterable[Article],
    *,
    section_order: Sequence[str],
    count: int,
) -> EditionPlan:
    """A plan giving `subscriber` the `count` newest of `newest` in their sections, whatever
    they were sent before (a demo or a design check, never a send)."""
    chosen = [a for a in newest if a.section in subscriber.sections][:count]
    rank = {slug: position for position, slug in enumerate(section_order)}
    ordered = tuple(sorted(chosen, key=lambda a: rank.get(a.section, len(rank))))  # stable
    plan = EditionPlan(edition=edition)
    if ordered:
        fingerprint = variant_fingerprint(a.id for a in ordered)
        plan.variants[fingerprint] = Variant(fingerprint=fingerprint, articles=ordered)
        plan.recipients.append((subscriber, fingerprint))
    else:
        plan.skipped = 1
    return plan
