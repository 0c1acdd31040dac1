"""Related articles: candidates by text similarity, scored with shared tags, section and recency.

A candidate needs a cosine of at least `min_similarity`; the other terms only order those that
pass, so an article with no close neighbour gets fewer links, or none. An article that already
has `fill_after` such links may fill its last slots with weaker ones, down to
`fill_similarity`, when they are as close to those links too: in a rich archive these are
mostly other stories of the same topic. Never the article itself,
a near-duplicate of it (the same story filed twice), a withdrawn or draft article, or an article
the caller excludes (those already in the same digest).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import scipy.sparse as sp

from publisher.related.index import RelatedIndex
from publisher.settings import RelatedSettings

QUERY_TERMS = 48  # strongest terms of an article used to find candidates (as "more like this")
CANDIDATES = 100  # candidates re-scored exactly per article
_SHORTLIST = 5  # times the limit: best-scored candidates checked against each other for copies
_PAIRWISE = 60  # neighbours whose cosines with each other are worked out ahead
_DAY = 86_400.0


@dataclass(frozen=True, kw_only=True)
class Neighbours:
    """An article's possible links, best first, before any exclusion: their rows, whether each
    passes `min_similarity`, their scores, and the cosines among the first of them."""

    row: int
    rows: list[int]
    strong: list[bool]
    scores: list[float]
    pairwise: np.ndarray


@dataclass(frozen=True, kw_only=True)
class Related:
    """One related article and its score."""

    id: str
    title: str
    score: float


class RelatedEngine:
    """Answers related-article questions from one loaded index."""

    def __init__(
        self, index: RelatedIndex, settings: RelatedSettings, *, now: datetime | None = None
    ) -> None:
        self.index = index
        self.settings = settings
        self._now = int((now or datetime.now(UTC)).timestamp())
        self._dense = np.zeros(index.matrix.shape[1], np.float32)  # one query vector at a time
        by_id = sorted(range(len(index.ids)), key=index.ids.__getitem__)
        self._rank = np.empty(len(by_id), np.int64)  # ties are broken by article id
        self._rank[by_id] = np.arange(len(by_id))
        codes = {name: code for code, name in enumerate(sorted(set(index.sections)))}
        self._section = np.array([codes[name] for name in index.sections], np.int32)
        self._titles: dict[str, list[str]] | None = None

    def related(
        self, ids: Sequence[str], *, limit: int | None = None, exclude: Collection[str] = ()
    ) -> dict[str, list[Related]]:
        """Related articles of each known id, best first: at most `limit`, maybe none.

        Unknown and draft ids are left out; an article whose candidates all fall below
        `min_similarity` gets an empty list.
        """
        limit = limit or self.settings.limit
        rows = {i: r for i in dict.fromkeys(ids) if (r := self.index.row(i)) is not None}
        if not rows:
            return {}
        excluded_rows = {r for i in exclude if (r := self.index.row(i)) is not None}
        excluded_titles = {self.index.title_keys[r] for r in excluded_rows}
        queries = _strongest_terms(self.index.matrix[list(rows.values())], QUERY_TERMS)
        parts = [
            (offset, (queries @ postings).tocsr()) for offset, postings in self.index.segments()
        ]
        answers = {}
        for position, (article_id, row) in enumerate(rows.items()):
            neighbours = self._neighbours(row, *_candidates(parts, position))
            answers[article_id] = self.choose(neighbours, excluded_rows, excluded_titles, limit)
        return answers

    def neighbours(self, ids: Sequence[str]) -> dict[str, Neighbours]:
        """Each known id's possible links in order, before any exclusion: worked out once,
        then `choose` gives the links for any digest quickly."""
        rows = {i: r for i in dict.fromkeys(ids) if (r := self.index.row(i)) is not None}
        if not rows:
            return {}
        queries = _strongest_terms(self.index.matrix[list(rows.values())], QUERY_TERMS)
        parts = [(offset, (queries @ post).tocsr()) for offset, post in self.index.segments()]
        return {
            article_id: self._neighbours(row, *_candidates(parts, position))
            for position, (article_id, row) in enumerate(rows.items())
        }

    def _neighbours(self, row: int, candidates: np.ndarray, approx: np.ndarray) -> Neighbours:
        candidates, similarity = self._fit(row, candidates, approx)
        scores = self._scores(row, candidates, similarity)
        strong = similarity >= self.settings.min_similarity
        # Links over the floor first, by score; weaker ones only behind `fill_after` of them,
        # by their text alone (tags, section and recency never lift a link under the floor).
        key = np.where(strong, scores, similarity)
        order = np.lexsort((self._rank[candidates], -np.round(key, 9), ~strong))
        ordered = candidates[order]
        return Neighbours(
            row=row,
            rows=ordered.tolist(),
            strong=strong[order].tolist(),
            scores=scores[order].tolist(),
            pairwise=_pairwise(self.index.matrix[ordered[:_PAIRWISE]]),
        )

    def choose(
        self,
        neighbours: Neighbours,
        excluded: Collection[int],
        excluded_titles: Collection[str],
        limit: int,
    ) -> list[Related]:
        """The links of an article whose digest holds the `excluded` rows (and titles): the
        best `limit` of its neighbours that are not copies of each other; one under
        `min_similarity` only where `_fills` allows it."""
        return self.choose_traced(neighbours, excluded, excluded_titles, limit)[0]

    def choose_traced(
        self,
        neighbours: Neighbours,
        excluded: Collection[int],
        excluded_titles: Collection[str],
        limit: int,
    ) -> tuple[list[Related], list[int] | None]:
        """`choose`, and the rows it looked at before it had `limit` links (None when it ran
        out first): a digest holding none of these (nor their titles) gets the same links."""
        keys, n = self.index.title_keys, neighbours
        blocked = set(excluded_titles) | {keys[n.row]}
        shortlist = [i for i, row in enumerate(n.rows) if row not in excluded][: limit * _SHORTLIST]
        if shortlist and shortlist[-1] < _PAIRWISE:
            pairwise = n.pairwise[np.ix_(shortlist, shortlist)]
        else:
            pairwise = _pairwise(self.index.matrix[[n.rows[i] for i in shortlist]])
        chosen: list[int] = []
        for position, i in enumerate(shortlist):
            key = keys[n.rows[i]]
            if key in blocked:
                continue
            if not n.strong[i] and not self._fills(pairwise[position, chosen]):
                continue
            if chosen and (pairwise[position, chosen] >= self.settings.duplicate_similarity).any():
                continue
            chosen.append(position)
            blocked.add(key)
            if len(chosen) == limit:
                looked = [n.rows[i] for i in shortlist[: position + 1]]
                return [self._related(n, shortlist[p]) for p in chosen], looked
        return [self._related(n, shortlist[position]) for position in chosen], None

    def _related(self, neighbours: Neighbours, i: int) -> Related:
        row = neighbours.rows[i]
        score = round(neighbours.scores[i], 4)
        return Related(id=self.index.ids[row], title=self.index.titles[row], score=score)

    def reach(self, neighbours: Neighbours) -> frozenset[str]:
        """The articles whose exclusion (in a digest) can change this article's links: its
        neighbours, and the articles sharing a title with them or with it. Its links for a
        digest depend only on which of these the digest holds."""
        keys = self.index.title_keys
        titles = {keys[row] for row in neighbours.rows} | {keys[neighbours.row]}
        titled = self.by_title()
        found = {self.index.ids[row] for row in neighbours.rows}
        return frozenset(found.union(*(titled.get(key, ()) for key in titles)))

    def _fit(
        self, row: int, candidates: np.ndarray, approx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The candidates that may be linked, and their cosines, whatever is excluded: live,
        published, not the article, among the best by strong terms, within the floors.
        (Exclusions apply after this, so they never let another candidate in.)"""
        keep = self.index.alive[candidates] & (candidates != row)
        keep &= self.index.published[candidates] <= self._now  # scheduled: not published yet
        candidates, approx = candidates[keep], approx[keep]
        if len(candidates) > CANDIDATES:
            candidates = candidates[np.argpartition(-approx, CANDIDATES)[:CANDIDATES]]
        similarity = self._cosines(row, candidates)
        settings = self.settings
        floor = min(settings.min_similarity, settings.fill_similarity)
        fit = (similarity >= floor) & (similarity < settings.duplicate_similarity)
        return candidates[fit], similarity[fit]

    def by_title(self) -> dict[str, list[str]]:
        """Article ids by title key (articles filed under the same title)."""
        if self._titles is None:
            self._titles = {}
            for row in np.flatnonzero(self.index.alive):
                key = self.index.title_keys[row]
                self._titles.setdefault(key, []).append(self.index.ids[row])
        return self._titles

    def _fills(self, with_chosen: np.ndarray) -> bool:
        """True when a link under the floor may fill a slot: `fill_after` links over the floor
        are chosen already, and it is as close to each of them as to the article (a weak link
        to a story the others are not about is left out)."""
        settings = self.settings
        if len(with_chosen) < max(settings.fill_after, 1):
            return False
        return bool(with_chosen.min() >= settings.fill_similarity)

    def _cosines(self, row: int, candidates: np.ndarray) -> np.ndarray:
        """Exact cosine of one article with each candidate (rows are unit length)."""
        matrix = self.index.matrix
        start, end = matrix.indptr[row : row + 2]
        terms = matrix.indices[start:end]
        self._dense[terms] = matrix.data[start:end]
        try:
            return np.asarray(matrix[candidates] @ self._dense, dtype=np.float64)
        finally:
            self._dense[terms] = 0

    def _scores(self, row: int, candidates: np.ndarray, similarity: np.ndarray) -> np.ndarray:
        index, weights = self.index, self.settings
        tags = index.tags[row]
        shared = np.array([_jaccard(tags, index.tags[c]) for c in candidates], np.float32)
        same_section = (self._section[candidates] == self._section[row]).astype(np.float32)
        days = np.abs(index.published[candidates] - index.published[row]) / _DAY
        recency = np.power(0.5, days / weights.recency_half_life_days)
        return (
            weights.text_weight * similarity
            + weights.tags_weight * shared
            + weights.section_weight * same_section
            + weights.recency_weight * recency
        )


def _pairwise(rows: sp.csr_matrix) -> np.ndarray:
    """Cosines between a few unit rows, on a dense copy of just the terms they use."""
    columns, inverse = np.unique(rows.indices, return_inverse=True)
    dense = np.zeros((rows.shape[0], len(columns)), np.float32)
    dense[np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr)), inverse] = rows.data
    return dense @ dense.T


def _candidates(
    parts: list[tuple[int, sp.csr_matrix]], position: int
) -> tuple[np.ndarray, np.ndarray]:
    """The articles sharing a strong term with query `position`, and their partial scores."""
    rows, scores = [], []
    for offset, approx in parts:
        start, end = approx.indptr[position : position + 2]
        rows.append(approx.indices[start:end] + offset)
        scores.append(approx.data[start:end])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(rows), np.concatenate(scores)


def _strongest_terms(vectors: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Each row cut to its `keep` heaviest terms: fewer postings to walk, same best candidates."""
    pruned = vectors.copy()
    for row in range(pruned.shape[0]):
        start, end = pruned.indptr[row : row + 2]
        if end - start > keep:
            weights = pruned.data[start:end]
            weights[np.argpartition(weights, end - start - keep)[: end - start - keep]] = 0
    pruned.eliminate_zeros()
    return pruned


def _jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)
