"""Related links for the digests of an edition: each article's links worked out once for
every set of its neighbours a digest can hold, not once per digest.

An article's links in a digest depend only on which of the articles in its reach (see
RelatedEngine.reach) the digest holds, and a digest only holds articles of its edition; so
the links are computed once per article and distinct set of those, and looked up after.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from publisher.models import Link, RelatedLookup
from publisher.related.engine import Neighbours, Related, RelatedEngine
from publisher.store.articles import ArticleStore


class DigestLinks:
    """Makes the related-links lookup of an edition from one engine."""

    def __init__(self, engine: RelatedEngine, articles: ArticleStore, *, limit: int) -> None:
        self.engine = engine
        self.articles = articles
        self.limit = limit
        self._urls: dict[str, str] = {}
        self._interned: dict[tuple[Link, ...], tuple[Link, ...]] = {}

    def for_edition(self, universe: Collection[str]) -> RelatedLookup:
        """The lookup for digests whose articles are all among `universe`."""
        return _EditionLinks(self, frozenset(universe))

    def _base(
        self, neighbours: Neighbours, reach: frozenset[str], pool: frozenset[str]
    ) -> tuple[Sequence[Link], frozenset[str]]:
        """The links with nothing excluded, and the articles a digest must not hold for them
        to stay its links: those looked at, and those sharing their titles."""
        found, looked = self.engine.choose_traced(neighbours, (), (), self.limit)
        if looked is None:
            return self._as_links(found), reach
        index, titled = self.engine.index, self.engine.by_title()
        ids = {index.ids[row] for row in looked}
        for row in looked:
            ids.update(titled.get(index.title_keys[row], ()))
        return self._as_links(found), frozenset(ids) & pool

    def _links(self, neighbours: Neighbours, exclude: frozenset[str]) -> Sequence[Link]:
        index = self.engine.index
        rows = {row for i in exclude if (row := index.row(i)) is not None}
        titles = {index.title_keys[row] for row in rows}
        return self._as_links(self.engine.choose(neighbours, rows, titles, self.limit))

    def _as_links(self, found: Sequence[Related]) -> Sequence[Link]:
        self._fetch_urls({item.id for item in found})
        urls = self._urls
        links = tuple(Link(title=i.title, url=urls[i.id]) for i in found if i.id in urls)
        return self._interned.setdefault(links, links)  # equal links: the same tuple

    def _fetch_urls(self, ids: set[str]) -> None:
        missing = {i for i in ids if i not in self._urls}
        if missing:
            for key, (article, _, _) in self.articles.by_ids(missing).items():
                self._urls[key] = article.url


class _EditionLinks:
    """The related links of an edition's articles in any of its digests."""

    def __init__(self, links: DigestLinks, pool: frozenset[str]) -> None:
        engine = links.engine
        self.links = links
        self.neighbours = engine.neighbours(list(pool))
        index = engine.index
        links._fetch_urls({index.ids[r] for n in self.neighbours.values() for r in n.rows})
        self.reach = {i: engine.reach(n) & pool for i, n in self.neighbours.items()}
        self.base: dict[str, Sequence[Link]] = {}
        self.guard: dict[str, frozenset[str]] = {}
        for article_id, found in self.neighbours.items():
            self.base[article_id], self.guard[article_id] = links._base(
                found, self.reach[article_id], pool
            )
        # Which articles' links may change when a digest holds this one.
        self.affects: dict[str, set[str]] = {}
        for article_id, guard in self.guard.items():
            for other in guard:
                self.affects.setdefault(other, set()).add(article_id)
        self.memo: dict[tuple[str, frozenset[str]], Sequence[Link]] = {}

    def __call__(self, article_ids: Sequence[str], digest: frozenset[str]) -> list[Sequence[Link]]:
        """The links of each of these articles in a digest holding `digest`."""
        base = self.base
        held = digest.intersection(self.affects)
        if not held:  # most digests: nothing any link depends on, the links worked out first
            return [base.get(article_id, ()) for article_id in article_ids]
        suspects = set().union(*(self.affects[other] for other in held))
        return [
            self._in(article_id, digest) if article_id in suspects else base.get(article_id, ())
            for article_id in article_ids
        ]

    def _in(self, article_id: str, digest: frozenset[str]) -> Sequence[Link]:
        if self.guard[article_id].isdisjoint(digest):
            return self.base[article_id]
        key = (article_id, self.reach[article_id].intersection(digest))
        if key not in self.memo:
            self.memo[key] = self.links._links(self.neighbours[article_id], key[1])
        return self.memo[key]
