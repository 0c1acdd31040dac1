"""Related articles: candidates by text similarity, scored with shared tags, section and recency.

Never the article itself, a near-duplicate of it (the same story filed twice), a withdrawn
or draft article, or an article the caller excludes (those already in the same digest).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from publisher.related_index import RelatedIndex
from publisher.settings import RelatedSettings

QUERY_TERMS = 48  # strongest terms of an article used to find candidates (as "more like this")
CANDIDATES = 150  # candidates re-scored exactly per article
_DAY = 86_400.0


@dataclass(frozen=True, kw_only=True)
class Related:
    """One related article and its score."""

    id: str
    title: str
    score: float


class RelatedEngine:
    """Answers related-article questions from one loaded index."""

    def __init__(self, index: RelatedIndex, settings: RelatedSettings) -> None:
        self.index = index
        self.settings = settings
        self._dense = np.zeros(index.matrix.shape[1], np.float32)  # one query vector at a time

    def related(
        self, ids: Sequence[str], *, limit: int | None = None, exclude: Collection[str] = ()
    ) -> dict[str, list[Related]]:
        """Related articles of each known id (unknown and draft ids are left out), best first."""
        limit = limit or self.settings.limit
        rows = {i: r for i in dict.fromkeys(ids) if (r := self.index.row(i)) is not None}
        if not rows:
            return {}
        excluded = {r for i in exclude if (r := self.index.row(i)) is not None}
        excluded_titles = {self.index.title_keys[r] for r in excluded}
        queries = self.index.matrix[list(rows.values())]
        approx = (_strongest_terms(queries, QUERY_TERMS) @ self.index.postings()).tocsr()
        answers = {}
        for position, (article_id, row) in enumerate(rows.items()):
            start, end = approx.indptr[position : position + 2]
            found = self._answer(
                row,
                approx.indices[start:end],
                approx.data[start:end],
                excluded,
                excluded_titles,
                limit,
            )
            answers[article_id] = found
        return answers

    def _answer(
        self,
        row: int,
        candidates: np.ndarray,
        approx: np.ndarray,
        excluded: set[int],
        excluded_titles: set[str],
        limit: int,
    ) -> list[Related]:
        if len(candidates) > CANDIDATES:
            best = np.argpartition(-approx, CANDIDATES)[:CANDIDATES]
            candidates = candidates[best]
        index = self.index
        keep = index.alive[candidates] & (candidates != row)
        candidates = candidates[keep]
        if not len(candidates):
            return []
        similarity = self._cosines(row, candidates)
        scores = self._scores(row, candidates, similarity)
        order = sorted(
            range(len(candidates)),
            key=lambda k: (-round(float(scores[k]), 9), index.ids[candidates[k]]),
        )
        chosen: list[int] = []
        for k in order:
            cand = int(candidates[k])
            if similarity[k] < self.settings.min_similarity or cand in excluded:
                continue
            if similarity[k] >= self.settings.duplicate_similarity or self._same_title(
                cand, row, excluded_titles
            ):
                continue
            if chosen and self._duplicates(cand, chosen):
                continue
            chosen.append(cand)
            if len(chosen) == limit:
                break
        by_row = {int(c): float(s) for c, s in zip(candidates, scores, strict=True)}
        return [
            Related(id=index.ids[c], title=index.titles[c], score=round(by_row[c], 4))
            for c in chosen
        ]

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
        same_section = np.array(
            [index.sections[c] == index.sections[row] for c in candidates], np.float32
        )
        days = np.abs(index.published[candidates] - index.published[row]) / _DAY
        recency = np.power(0.5, days / weights.recency_half_life_days)
        return (
            weights.text_weight * similarity
            + weights.tags_weight * shared
            + weights.section_weight * same_section
            + weights.recency_weight * recency
        )

    def _same_title(self, cand: int, row: int, excluded_titles: set[str]) -> bool:
        key = self.index.title_keys[cand]
        return key == self.index.title_keys[row] or key in excluded_titles

    def _duplicates(self, cand: int, chosen: list[int]) -> bool:
        """True when `cand` is the same story filed again as one already chosen."""
        if self.index.title_keys[cand] in {self.index.title_keys[c] for c in chosen}:
            return True
        similarity = self._cosines(cand, np.array(chosen))
        return bool((similarity >= self.settings.duplicate_similarity).any())


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
