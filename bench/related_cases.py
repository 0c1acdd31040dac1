"""The cases of the related-links evaluation, and how the links shown in them are counted.

A case is an archive and the digests asked about it: each digest's articles get their links
from the archive, never one of the digest's own articles (as a digest's related links do).

- dense: the whole labelled set, every article asked on its own (nothing excluded);
- weekly digests: every week of the set, the week's articles as one digest, asked when the week
  ends (later articles are not published yet); a story's articles of the same week exclude
  each other, so their closest neighbours are often gone;
- story digests: all the articles of one story in one digest, so that only other stories of
  the topic are left as true neighbours;
- thin archives: a new site's archive, a few articles per topic and a few unrelated ones,
  asked as one digest of most of them (as the issue's 40-article trial: 28 in the digest),
  and without a digest.

A link is right when it shares the article's story or topic and is not a copy of the same
article. An article of topic "misc" has no true neighbour: every link it gets is wrong.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from publisher.gather import content_hash
from publisher.models import Article
from publisher.related.engine import RelatedEngine
from publisher.related.index import RelatedIndex
from publisher.settings import RelatedSettings

LIMIT = 3
LATER = datetime(2027, 1, 1, tzinfo=UTC)  # after every labelled article: all are published
THIN_SEEDS = 30
THIN_PER_TOPIC = 4
THIN_MISC = 8
THIN_DIGEST = 28


@dataclass(frozen=True)
class Labelled:
    article: Article
    story: str | None
    topic: str
    duplicate_of: str | None


def original(item: Labelled) -> str:
    return item.duplicate_of or item.article.id


def relevant(item: Labelled, other: Labelled) -> bool:
    """A right link: the same story or topic, and not a copy of the same article."""
    if original(other) == original(item) or item.topic == "misc":
        return False
    return other.topic == item.topic or (item.story is not None and other.story == item.story)


@dataclass(frozen=True)
class Digest:
    ids: tuple[str, ...]
    exclude: frozenset[str]
    now: datetime = LATER


@dataclass
class Case:
    name: str
    archive: list[Labelled]
    digests: list[Digest]
    index: RelatedIndex = field(init=False)

    def __post_init__(self) -> None:
        self.index = index_of(self.archive)


def index_of(items: Iterable[Labelled]) -> RelatedIndex:
    """The related index of the articles, built as `build_index` builds it from a store."""
    index = RelatedIndex.empty()
    index.build_from((i.article, content_hash(i.article), i.article.published) for i in items)
    return index


def dense(items: list[Labelled]) -> Case:
    return Case("dense", items, [Digest(tuple(i.article.id for i in items), frozenset())])


def weekly_digests(items: list[Labelled]) -> Case:
    start = min(i.article.published for i in items).replace(hour=0, minute=0, second=0)
    weeks: dict[int, list[str]] = defaultdict(list)
    for item in items:
        weeks[(item.article.published - start).days // 7].append(item.article.id)
    digests = [
        Digest(tuple(ids), frozenset(ids), now=start + timedelta(days=7 * (week + 1)))
        for week, ids in sorted(weeks.items())
    ]
    return Case("weekly digests", items, digests)


def story_digests(items: list[Labelled]) -> Case:
    stories: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if item.story:
            stories[item.story].append(item.article.id)
    digests = [Digest(tuple(ids), frozenset(ids)) for _, ids in sorted(stories.items())]
    return Case("story digests", items, digests)


def thin_archives(items: list[Labelled], *, digest: bool) -> Iterator[Case]:
    """THIN_SEEDS small archives, each asked as one digest (or article by article)."""
    by_topic: dict[str, list[Labelled]] = defaultdict(list)
    for item in items:
        by_topic[item.topic].append(item)
    for seed in range(THIN_SEEDS):
        rng = random.Random(seed)
        archive = [
            picked
            for topic, group in sorted(by_topic.items())
            for picked in rng.sample(group, min(len(group), _per_topic(topic)))
        ]
        ids = [i.article.id for i in archive]
        if digest:
            held = tuple(rng.sample(ids, THIN_DIGEST))
            yield Case("thin archives, digest", archive, [Digest(held, frozenset(held))])
        else:
            yield Case("thin archives", archive, [Digest(tuple(ids), frozenset())])


def _per_topic(topic: str) -> int:
    return THIN_MISC if topic == "misc" else THIN_PER_TOPIC


def answers(case: Case, settings: RelatedSettings) -> Iterator[tuple[Digest, dict[str, list[str]]]]:
    """Each digest of the case, with the ids linked from each of its articles."""
    for digest in case.digests:
        engine = RelatedEngine(case.index, settings, now=digest.now)
        found = engine.related(digest.ids, limit=LIMIT, exclude=digest.exclude)
        yield digest, {k: [r.id for r in v] for k, v in found.items()}


@dataclass
class Tally:
    """Links shown and what they should have been, summed over digests."""

    queries: int = 0
    judged: int = 0  # articles with a story or topic, as precision@3 counts them
    judged_right: int = 0
    links: int = 0
    right: int = 0
    wanted: int = 0  # right links there were room for: min(limit, true neighbours left)
    found: int = 0
    empty: int = 0
    lonely: int = 0  # articles with no true neighbour left in the archive
    lonely_empty: int = 0

    def add(self, case: Case, digest: Digest, links: dict[str, list[str]]) -> None:
        by_id = {i.article.id: i for i in case.archive}
        for article_id in digest.ids:
            item, shown = by_id[article_id], links.get(article_id, [])
            right = sum(relevant(item, by_id[other]) for other in shown)
            room = min(LIMIT, _neighbours_left(item, case.archive, digest))
            self.queries += 1
            self.links += len(shown)
            self.right += right
            self.wanted += room
            self.found += min(right, room)
            self.empty += not shown
            self.lonely += not room
            self.lonely_empty += not room and not shown
            if item.topic != "misc":
                self.judged += 1
                self.judged_right += right

    def row(self) -> dict[str, float]:
        with_neighbour = self.queries - self.lonely
        return {
            "P@3": self.judged_right / max(LIMIT * self.judged, 1),
            "shown P": self.right / max(self.links, 1),
            "recall": self.found / max(self.wanted, 1),
            "no links": self.empty / max(self.queries, 1),
            "none|nbr": (self.empty - self.lonely_empty) / max(with_neighbour, 1),
            "none|lone": self.lonely_empty / max(self.lonely, 1),
            "links": self.links,
            "articles": self.queries,
        }


def _neighbours_left(item: Labelled, archive: list[Labelled], digest: Digest) -> int:
    """How many distinct articles (copies counted once) could be a right link."""
    return len(
        {
            original(other)
            for other in archive
            if other.article.id not in digest.exclude
            and other.article.published <= digest.now
            and relevant(item, other)
        }
    )


def tally(cases: Iterable[Case], settings: RelatedSettings) -> Tally:
    total = Tally()
    for case in cases:
        for digest, links in answers(case, settings):
            total.add(case, digest, links)
    return total
