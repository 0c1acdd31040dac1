"""Related links for the digests of an edition: each article's links worked out once for
every set of its neighbours a digest can hold, not once per digest.

An article's links in a digest depend only on which of the articles in its reach (see
RelatedEngine.reach) the digest holds, and a digest only holds articles of its edition; so
the links are computed once per article and distinct set of those, and looked up after.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from publisher.models import Link, RelatedLookup
from publisher.related.engine import RelatedEngine
from publisher.store.articles import ArticleStore


class DigestLinks:
    """Makes the related-links lookup of an edition from one engine."""

    def __init__(self, engine: RelatedEngine, articles: ArticleStore, *, limit: int) -> None:
        self.engine = engine
        self.articles = articles
        self.limit = limit
        self._urls: dict[str, str] = {}

    def for_edition(self, universe: Collection[str]) -> RelatedLookup:
        """The lookup for digests whose articles are all among `universe`."""
        pool = frozenset(universe)
        reach = {i: found & pool for i, found in self.engine.reach(list(pool)).items()}
        memo: dict[tuple[str, frozenset[str]], Sequence[Link]] = {}

        def lookup(article_id: str, digest: Collection[str]) -> Sequence[Link]:
            near = reach.get(article_id, frozenset())
            key = (article_id, frozenset(i for i in near if i in digest) if near else near)
            if key not in memo:
                memo[key] = self._links(article_id, key[1])
            return memo[key]

        return lookup

    def _links(self, article_id: str, exclude: frozenset[str]) -> Sequence[Link]:
        answer = self.engine.related([article_id], limit=self.limit, exclude=exclude)
        found = answer.get(article_id, [])
        missing = {item.id for item in found} - self._urls.keys()
        for key, (article, _, _) in self.articles.by_ids(missing).items():
            self._urls[key] = article.url
        return tuple(
            Link(title=item.title, url=self._urls[item.id])
            for item in found
            if item.id in self._urls
        )
