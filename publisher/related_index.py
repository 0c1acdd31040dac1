"""The related-articles index: TF-IDF vectors of the archive, updated incrementally, saved.

Text is hashed (scikit-learn's HashingVectorizer), so the index needs no vocabulary and a new
article is vectorised on its own; document frequencies are kept beside the vectors, so an
incremental update re-weighs new articles with the archive's current IDF.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

from publisher.models import Article
from publisher.sanitize import plain_text
from publisher.store import Store

log = logging.getLogger(__name__)
FORMAT = 1
N_FEATURES = 2**20
_CHUNK = 2000
# Re-read a margin before the watermark: a gather that started earlier may commit later.
# Articles read twice are recognised by their content hash and skipped.
_LATE_COMMITS = timedelta(minutes=10)
_NOT_WORD = re.compile(r"\W+")
_CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
_VECTORIZER = HashingVectorizer(
    n_features=N_FEATURES,
    alternate_sign=False,
    norm=None,
    stop_words="english",
    strip_accents="unicode",
    ngram_range=(1, 2),
    dtype=np.float32,
)


def document_text(article: Article) -> str:
    """The text vectorised: the title twice (it names the story), summary, body, tags as words."""
    tags = " ".join(f"tag_{tag_key(tag)}" for tag in article.tags)
    body = plain_text(article.content)
    text = f"{article.title}. {article.title}. {article.summary}. {body}"
    return f"{_CJK_RUN.sub(_cjk_bigrams, text)} {tags} {tags}"


def _cjk_bigrams(run: re.Match[str]) -> str:
    # Chinese and Japanese are written without spaces: index overlapping character pairs.
    chars = run.group()
    return " " + " ".join(chars[i : i + 2] for i in range(max(len(chars) - 1, 1))) + " "


def tag_key(tag: str) -> str:
    """A tag folded to one comparable word: case, accents and punctuation ignored."""
    folded = unicodedata.normalize("NFKD", tag.casefold())
    return _NOT_WORD.sub("_", "".join(c for c in folded if not unicodedata.combining(c))).strip("_")


def title_key(title: str) -> str:
    """A title folded for spotting the same story filed twice."""
    return " ".join(tag_key(title).split("_"))


@dataclass(kw_only=True)
class RelatedIndex:
    """The vectors and what queries need to know of each indexed article (one row each)."""

    matrix: sp.csr_matrix
    df: np.ndarray
    ids: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    title_keys: list[str] = field(default_factory=list)
    tags: list[frozenset[str]] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    published: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    alive: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    watermark: datetime | None = None
    raw: bool = False
    _rows: dict[str, int] = field(default_factory=dict)
    _postings: sp.csr_matrix | None = None

    @classmethod
    def empty(cls) -> RelatedIndex:
        """An index of nothing."""
        return cls(
            matrix=sp.csr_matrix((0, N_FEATURES), dtype=np.float32),
            df=np.zeros(N_FEATURES, np.int32),
        )

    @property
    def size(self) -> int:
        """How many live (indexed, not withdrawn) articles."""
        return int(self.alive.sum())

    def row(self, article_id: str) -> int | None:
        """The live row of an article, or None."""
        row = self._rows.get(article_id)
        return row if row is not None and self.alive[row] else None

    def postings(self) -> sp.csr_matrix:
        """The transposed matrix (term → articles), built on first use."""
        if self._postings is None:
            self._postings = self.matrix.T.tocsr()
        return self._postings

    # -- building and updating ---------------------------------------------------------

    def apply(self, changes: Iterable[tuple[Article, str, datetime]], *, raw: bool = False) -> int:
        """Add new articles, replace changed ones, drop drafts; return how many rows changed.

        With `raw`, rows keep their term counts for `finish_build` to weigh all at once.
        """
        self.raw = raw
        pending: list[tuple[Article, str]] = []
        changed = 0
        for article, content_hash, last_changed in changes:
            self.watermark = max(self.watermark or last_changed, last_changed)
            row = self._rows.get(article.id)
            if row is not None and self.hashes[row] == content_hash and self.alive[row]:
                continue
            if row is not None and self.alive[row]:
                self._withdraw(row)
                changed += 1
            if not article.draft:
                pending.append((article, content_hash))
            if len(pending) >= _CHUNK:
                changed += self._append(pending)
                pending = []
        return changed + self._append(pending)

    def _withdraw(self, row: int) -> None:
        start, end = self.matrix.indptr[row : row + 2]
        self.df[self.matrix.indices[start:end]] -= 1  # a row's indices are unique
        self.alive[row] = False

    def _append(self, items: list[tuple[Article, str]]) -> int:
        if not items:
            return 0
        counts = _VECTORIZER.transform([document_text(a) for a, _ in items]).tocsr()
        counts.sum_duplicates()
        self.df += np.bincount(counts.indices, minlength=N_FEATURES).astype(np.int32)
        vectors = counts if self.raw else self._weigh(counts, self.size + counts.shape[0])
        self.matrix = sp.vstack([self.matrix, vectors], format="csr", dtype=np.float32)
        start = len(self.ids)
        for offset, (article, content_hash) in enumerate(items):
            self._rows[article.id] = start + offset
            self.ids.append(article.id)
            self.titles.append(article.title)
            self.title_keys.append(title_key(article.title))
            self.tags.append(frozenset(tag_key(t) for t in article.tags))
            self.hashes.append(content_hash)
            self.sections.append(article.section)
        stamps = [int(a.published.timestamp()) for a, _ in items]
        self.published = np.concatenate([self.published, np.array(stamps, np.int64)])
        self.alive = np.concatenate([self.alive, np.ones(len(items), bool)])
        self._postings = None
        return len(items)

    def finish_build(self) -> None:
        """Weigh the raw counts of a full build with the IDF of the whole archive."""
        if self.matrix.shape[0]:
            self.matrix = self._weigh(self.matrix, self.size)
        self.raw = False

    def _weigh(self, counts: sp.csr_matrix, documents: int) -> sp.csr_matrix:
        """Sublinear TF times smooth IDF, rows normalised to unit length."""
        idf = np.log((1 + documents) / (1 + self.df.astype(np.float64))) + 1
        weighted = counts.astype(np.float32, copy=True)
        weighted.data = (1 + np.log(weighted.data)) * idf[weighted.indices].astype(np.float32)
        return normalize(weighted, copy=False)

    def compacted(self) -> RelatedIndex:
        """The same index without the rows of withdrawn articles."""
        keep = np.flatnonzero(self.alive)
        index = RelatedIndex(
            matrix=self.matrix[keep],
            df=self.df,
            ids=[self.ids[i] for i in keep],
            titles=[self.titles[i] for i in keep],
            title_keys=[self.title_keys[i] for i in keep],
            tags=[self.tags[i] for i in keep],
            hashes=[self.hashes[i] for i in keep],
            sections=[self.sections[i] for i in keep],
            published=self.published[keep],
            alive=np.ones(len(keep), bool),
            watermark=self.watermark,
        )
        index._rows = {article_id: row for row, article_id in enumerate(index.ids)}
        return index

    # -- persistence -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the index to one file, atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "ids": self.ids,
            "titles": self.titles,
            "title_keys": self.title_keys,
            "tags": [sorted(t) for t in self.tags],
            "hashes": self.hashes,
            "sections": self.sections,
            "watermark": self.watermark.isoformat() if self.watermark else None,
        }
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(
                    handle,
                    data=self.matrix.data,
                    indices=self.matrix.indices,
                    indptr=self.matrix.indptr,
                    df=self.df,
                    published=self.published,
                    alive=self.alive,
                    meta=np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8),
                )
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> RelatedIndex | None:
        """The saved index, or None when there is none or it is unreadable or of another format."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                meta = json.loads(saved["meta"].tobytes())
                if meta.get("format") != FORMAT:
                    return None
                arrays = {
                    k: saved[k] for k in ("data", "indices", "indptr", "df", "published", "alive")
                }
        except (OSError, ValueError, KeyError) as exc:
            if path.exists():
                log.warning("related index unreadable path=%s: %s; rebuilding", path, exc)
            return None
        rows = len(meta["ids"])
        matrix = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=(rows, N_FEATURES)
        )
        index = cls(
            matrix=matrix,
            df=arrays["df"],
            ids=meta["ids"],
            titles=meta["titles"],
            title_keys=meta["title_keys"],
            tags=[frozenset(t) for t in meta["tags"]],
            hashes=meta["hashes"],
            sections=meta["sections"],
            published=arrays["published"],
            alive=arrays["alive"],
            watermark=datetime.fromisoformat(meta["watermark"]) if meta["watermark"] else None,
        )
        index._rows = {article_id: row for row, article_id in enumerate(index.ids)}
        return index


def build_index(store: Store) -> RelatedIndex:
    """A new index of every published article in the store."""
    index = RelatedIndex.empty()
    index.apply(_published_only(store.changed_since(None)), raw=True)
    index.finish_build()
    return index


def _published_only(
    changes: Iterator[tuple[Article, str, datetime]],
) -> Iterator[tuple[Article, str, datetime]]:
    return (change for change in changes if not change[0].draft)


def refresh_index(store: Store, path: Path, *, rebuild: bool = False) -> RelatedIndex:
    """Load the saved index, bring it up to date with the store, save it if it changed."""
    index = None if rebuild else RelatedIndex.load(path)
    if index is None:
        index = build_index(store)
        log.info("related index built articles=%d", index.size)
        index.save(path)
        return index
    since = index.watermark - _LATE_COMMITS if index.watermark else None
    changed = index.apply(store.changed_since(since))
    if len(index.ids) > 1.25 * max(index.size, 1):
        index = index.compacted()
    if changed:
        log.info("related index updated changed=%d articles=%d", changed, index.size)
        index.save(path)
    return index
