"""The related-articles index: TF-IDF vectors of the archive, updated incrementally, saved.

Text is hashed (scikit-learn's HashingVectorizer), so the index needs no vocabulary and a new
article is vectorised on its own; document frequencies are kept beside the vectors, so an
incremental update re-weighs new articles with the archive's current IDF.
"""

from __future__ import annotations

import copy
import logging
import re
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from publisher.models import Article
from publisher.related.storage import read_arrays, sparse_arrays, sparse_from, write_arrays
from publisher.sanitize import plain_text
from publisher.store.articles import ArticleStore

log = logging.getLogger(__name__)
FORMAT = 2  # 2: names indexed as their own terms
N_FEATURES = 2**20
_CHUNK = 2000
_MIN_DELTA = 5_000  # rows kept in the delta file before a new base is written
_COMPACT_AT = 1.25  # rows / live articles at which withdrawn rows are dropped
# Re-read a margin before the watermark: a gather that started earlier may commit later.
# Articles read twice are recognised by their content hash and skipped.
_LATE_COMMITS = timedelta(minutes=10)
_NOT_WORD = re.compile(r"\W+")
# Names (capitalised words not opening a sentence, with the capitalised words after them) and
# long numbers: the same in every language, so they tie an article to its translation and to
# the other articles of its story.
_NAME = re.compile(
    r"(?<![.!?:]\s)(?<!^)\b[A-ZÀ-Þ][a-zß-ÿ]{2,}(?:\s[A-ZÀ-Þ][a-zß-ÿ]{2,})*"
    r"|\b\d[\d,.]{2,}\d\b"
)
_CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")


@cache
def _vectorizer() -> Any:
    """The hashing vectorizer, made on first use: scikit-learn takes ~1 s to import, and a
    process whose index is up to date (a send, a dry-run worker) never needs it."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        n_features=N_FEATURES,
        alternate_sign=False,
        norm=None,
        stop_words="english",
        strip_accents="unicode",
        dtype=np.float32,
    )


def document_text(article: Article) -> str:
    """The text vectorised: the title twice (it names the story), summary, body, tags and
    names as words of their own."""
    tags = " ".join(f"tag_{tag_key(tag)}" for tag in article.tags)
    body = plain_text(article.content)
    text = f"{article.title}. {article.title}. {article.summary}. {body}"
    names = " ".join(f"name_{tag_key(name)}" for name in _NAME.findall(f"{text}"))
    return f"{_CJK_RUN.sub(_cjk_bigrams, text)} {tags} {tags} {names}"


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
    """The vectors and what queries need to know of each indexed article (one row each).

    Saved as two files in a folder: `base.npz` holds the first `base_rows` rows with their
    postings (term → articles) and is rewritten only now and then; `delta.npz` holds the rows
    added since, which articles are withdrawn and the document frequencies, and is rewritten
    after every update. A delta that does not match its base (a crash between the two writes)
    is ignored and the changes since the base are read from the store again.
    """

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
    base_rows: int = 0
    generation: str = ""
    base_postings: sp.csr_matrix | None = None
    _rows: dict[str, int] = field(default_factory=dict)
    _delta_postings: sp.csr_matrix | None = None
    _raw_chunks: list[sp.csr_matrix] | None = None

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

    def holds(self, article_id: str, content_hash: str) -> bool:
        """True when this exact version of the article is indexed."""
        row = self._rows.get(article_id)
        return row is not None and self.alive[row] and self.hashes[row] == content_hash

    def segments(self) -> list[tuple[int, sp.csr_matrix]]:
        """(first row, postings) of the base and of the rows added since."""
        parts = []
        if self.base_rows:
            if self.base_postings is None:
                self.base_postings = self.matrix[: self.base_rows].T.tocsr()
            parts.append((0, self.base_postings))
        if len(self.ids) > self.base_rows:
            if self._delta_postings is None:
                self._delta_postings = self.matrix[self.base_rows :].T.tocsr()
            parts.append((self.base_rows, self._delta_postings))
        return parts

    # -- building and updating ---------------------------------------------------------

    def apply(self, changes: Iterable[tuple[Article, str, datetime]]) -> int:
        """Add new articles, replace changed ones, drop drafts; return how many rows changed."""
        pending: list[tuple[Article, str]] = []
        changed = 0
        for article, content_hash, last_changed in changes:
            self.watermark = max(self.watermark or last_changed, last_changed)
            if self.holds(article.id, content_hash):
                continue
            row = self._rows.get(article.id)
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
        counts = _vectorizer().transform([document_text(a) for a, _ in items]).tocsr()
        counts.sum_duplicates()
        self.df += np.bincount(counts.indices, minlength=N_FEATURES).astype(np.int32)
        if self._raw_chunks is not None:
            self._raw_chunks.append(counts)  # weighed all at once by finish_build
        else:
            weighted = self._weigh(counts, self.size + counts.shape[0])
            self.matrix = sp.vstack([self.matrix, weighted], format="csr", dtype=np.float32)
            self._delta_postings = None
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
        return len(items)

    def build_from(self, changes: Iterable[tuple[Article, str, datetime]]) -> None:
        """Index every article at once, weighing all of them with the archive's final IDF."""
        self._raw_chunks = []
        self.apply(changes)
        chunks, self._raw_chunks = self._raw_chunks, None
        if chunks:
            self.matrix = self._weigh(sp.vstack(chunks, format="csr"), self.size)

    def _weigh(self, counts: sp.csr_matrix, documents: int) -> sp.csr_matrix:
        """Sublinear TF times smooth IDF, rows normalised to unit length."""
        idf = np.log((1 + documents) / (1 + self.df.astype(np.float64))) + 1
        weighted = counts.astype(np.float32, copy=True)
        weighted.data = (1 + np.log(weighted.data)) * idf[weighted.indices].astype(np.float32)
        from sklearn.preprocessing import normalize  # see _vectorizer

        return normalize(weighted, copy=False)

    def compacted(self) -> RelatedIndex:
        """The same index without the rows of withdrawn articles (saved with a new base)."""
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

    def save(self, folder: Path) -> None:
        """Write the delta, and first a new base when there is none or the delta grew large."""
        folder.mkdir(parents=True, exist_ok=True)
        delta_rows = len(self.ids) - self.base_rows
        if not self.generation or delta_rows > max(_MIN_DELTA, self.base_rows // 4):
            self._save_base(folder)
        self._save_delta(folder)

    def _save_base(self, folder: Path) -> None:
        self.generation = uuid.uuid4().hex
        self.base_rows = len(self.ids)
        self.base_postings = self.matrix.T.tocsr()
        self._delta_postings = None
        meta = self._meta(slice(0, self.base_rows))
        write_arrays(
            folder / "base.npz",
            meta,
            **sparse_arrays("rows", self.matrix),
            **sparse_arrays("postings", self.base_postings),
            published=self.published,
            alive=self.alive,
            df=self.df,
        )

    def _save_delta(self, folder: Path) -> None:
        rows = slice(self.base_rows, len(self.ids))
        write_arrays(
            folder / "delta.npz",
            {**self._meta(rows), "base_rows": self.base_rows},
            **sparse_arrays("rows", self.matrix[rows]),
            published=self.published[rows],
            alive=self.alive,
            df=self.df,
        )

    def _meta(self, rows: slice) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "generation": self.generation,
            "ids": self.ids[rows],
            "titles": self.titles[rows],
            "title_keys": self.title_keys[rows],
            "tags": [sorted(t) for t in self.tags[rows]],
            "hashes": self.hashes[rows],
            "sections": self.sections[rows],
            "watermark": self.watermark.isoformat() if self.watermark else None,
        }

    @classmethod
    def load(cls, folder: Path) -> RelatedIndex | None:
        """The saved index, or None when there is none, or it is unreadable or of another format."""
        try:
            base = read_arrays(folder / "base.npz")
            delta = read_arrays(folder / "delta.npz")
        except (OSError, ValueError, KeyError) as exc:
            if folder.exists():
                log.warning("related index unreadable path=%s: %s; rebuilding", folder, exc)
            return None
        if base is None or base["meta"].get("format") != FORMAT:
            return None
        rows = sparse_from(base, "rows", columns=N_FEATURES)
        index = cls(matrix=rows, df=base["df"], alive=base["alive"])
        index.base_postings = sparse_from(base, "postings", columns=rows.shape[0])
        index._extend(base)
        index.base_rows = len(index.ids)
        index.generation = base["meta"]["generation"]
        if delta is not None and delta["meta"]["generation"] == index.generation:
            added = sparse_from(delta, "rows", columns=N_FEATURES)
            index.matrix = sp.vstack([index.matrix, added], format="csr")
            index._extend(delta)
            index.df, index.alive = delta["df"], delta["alive"]
        index._rows = {article_id: row for row, article_id in enumerate(index.ids)}
        return index

    def _extend(self, saved: dict[str, Any]) -> None:
        meta = saved["meta"]
        self.ids += meta["ids"]
        self.titles += meta["titles"]
        self.title_keys += meta["title_keys"]
        self.tags += [frozenset(t) for t in meta["tags"]]
        self.hashes += meta["hashes"]
        self.sections += meta["sections"]
        self.published = np.concatenate([self.published, saved["published"]])
        self.watermark = datetime.fromisoformat(meta["watermark"]) if meta["watermark"] else None


def build_index(store: ArticleStore) -> RelatedIndex:
    """A new index of every published article in the store."""
    index = RelatedIndex.empty()
    index.build_from(store.all_versions())  # drafts are skipped by apply()
    return index


def _changes(store: ArticleStore, index: RelatedIndex) -> Iterator[tuple[Article, str, datetime]]:
    """What changed since the index's watermark; only articles it does not hold are read whole."""
    if index.watermark is None:
        yield from store.all_versions()
        return
    log_entries = store.change_log(index.watermark - _LATE_COMMITS)
    needed = [entry for entry in log_entries if not index.holds(entry[0], entry[1])]
    for start in range(0, len(needed), _CHUNK):
        chunk = needed[start : start + _CHUNK]
        found = store.by_ids(article_id for article_id, _, _ in chunk)
        yield from (found[article_id] for article_id, _, _ in chunk if article_id in found)
    if log_entries:
        index.watermark = max(index.watermark, log_entries[-1][2])


def refresh_index(store: ArticleStore, path: Path, *, rebuild: bool = False) -> RelatedIndex:
    """Load the saved index, bring it up to date with the store, save it if it changed."""
    index = None if rebuild else RelatedIndex.load(path)
    if index is None:
        index = build_index(store)
        log.info("related index built articles=%d", index.size)
        index.save(path)
        return index
    return update_index(store, index, path)


def update_index(store: ArticleStore, index: RelatedIndex, path: Path) -> RelatedIndex:
    """Apply what changed in the store since the index was last updated; save if anything did."""
    return _apply(index, _changes(store, index), path)


def updated_copy(store: ArticleStore, index: RelatedIndex, path: Path) -> RelatedIndex:
    """The index with what changed in the store applied: the same object when nothing did,
    else an updated (and saved) copy, so threads still reading the original are undisturbed."""
    changes = list(_changes(store, index))
    return _apply(copy.deepcopy(index), changes, path) if changes else index


def _apply(
    index: RelatedIndex, changes: Iterable[tuple[Article, str, datetime]], path: Path
) -> RelatedIndex:
    changed = index.apply(changes)
    if len(index.ids) > _COMPACT_AT * max(index.size, 1):
        index = index.compacted()
    if changed:
        log.info("related index updated changed=%d articles=%d", changed, index.size)
        index.save(path)
    return index
