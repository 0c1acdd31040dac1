"""Benchmark: related articles over an archive of 100,000 generated articles.

Reports the index build time and memory, the time to add 100 new articles (incremental update
and save), the time to load the saved index, and the time to answer related links for the 200
articles of a large digest, against the naive way (exact TF-IDF cosine against every article).

    .venv/bin/python bench/related.py [--articles 100000] [--digest 200]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
from common import SECTIONS

from publisher.gather import content_hash
from publisher.models import Article
from publisher.related.engine import RelatedEngine
from publisher.related.index import RelatedIndex, refresh_index, update_index
from publisher.settings import RelatedSettings
from publisher.store import Store
from publisher.store.articles import StoredArticle

T = TypeVar("T")
NOW = datetime(2026, 11, 28, tzinfo=UTC)


class Corpus:
    """Articles drawn from a Zipf-distributed vocabulary, grouped into stories that share words."""

    def __init__(self, seed: int = 11, vocabulary: int = 60_000) -> None:
        self.rng = np.random.default_rng(seed)
        self.words = np.array([f"w{n}" for n in range(vocabulary)])
        ranks = np.arange(1, vocabulary + 1, dtype=np.float64)
        self.p = (1 / ranks**1.1) / (1 / ranks**1.1).sum()

    def article(self, n: int, story_words: np.ndarray) -> Article:
        body = self.rng.choice(self.words, size=260, p=self.p)
        body[::5] = self.rng.choice(story_words, size=len(body[::5]))  # the story's own words
        title = " ".join(self.rng.choice(story_words, 6))
        when = NOW - timedelta(minutes=5 * n)
        return Article(
            id=f"bench/{n}",
            url=f"https://bench.example/{n}/",
            title=title,
            summary=" ".join(body[:25]),
            content="<p>" + " ".join(body) + "</p>",
            section=SECTIONS[n % len(SECTIONS)],
            tags=(f"t{n % 500}", f"t{n % 37}"),
            published=when,
            updated=when,
        )

    def articles(self, start: int, count: int) -> list[StoredArticle]:
        items = []
        for n in range(start, start + count):
            story = np.random.default_rng(n // 8).choice(self.words[2000:], size=20)  # ~8 per story
            article = self.article(n, story)
            items.append(
                StoredArticle(
                    article=article,
                    source="bench",
                    origin=article.id,
                    fingerprint="",
                    content_hash=content_hash(article),
                )
            )
        return items


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, action: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    print(f"{label:<46} {seconds:8.3f} s   peak RSS {peak_mb():7.0f} MB")
    return result, seconds


def fill(store: Store, corpus: Corpus, count: int) -> None:
    start = time.perf_counter()
    for chunk in range(0, count, 1_000):  # gathered over time, as a real archive is
        items = corpus.articles(chunk, min(1_000, count - chunk))
        when = NOW - timedelta(hours=(count - chunk) // 1_000)
        store.articles.save_gathered(new=items, changed=[], touched=[], state=None, now=when)
    seconds = time.perf_counter() - start
    print(f"stored {store.articles.count()} generated articles in {seconds:.0f} s")


def naive_top3(index: RelatedIndex, digest: list[str]) -> np.ndarray:
    """Exact TF-IDF cosine of each digest article against every article, top 3."""
    rows = [index.row(i) for i in digest]
    scores = (index.matrix[rows] @ index.matrix.T).toarray()
    scores[np.arange(len(rows)), rows] = -1
    return np.argsort(-scores, axis=1)[:, :3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--digest", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="publisher-related-bench-"))
    store = Store.open(f"sqlite:///{work / 'bench.db'}")
    corpus = Corpus()
    fill(store, corpus, args.articles)
    path = work / "related-index"
    build_label = "index build (read store + vectorise + save)"
    index, _ = timed(build_label, lambda: refresh_index(store.articles, path, rebuild=True))
    matrix = index.matrix
    matrix_mb = (matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes) / 2**20
    files_mb = sum(p.stat().st_size for p in path.iterdir()) / 2**20
    print(
        f"  {index.size} articles, {matrix.nnz:,} weights: "
        f"matrix {matrix_mb:.0f} MB, files {files_mb:.0f} MB"
    )

    new = corpus.articles(args.articles, 100)
    store.articles.save_gathered(
        new=new, changed=[], touched=[], state=None, now=NOW + timedelta(hours=1)
    )
    loaded, _ = timed("load the saved index", lambda: RelatedIndex.load(path))
    assert loaded is not None
    label = "add 100 new articles (update + save delta)"
    loaded, _ = timed(label, lambda: update_index(store.articles, loaded, path))
    assert loaded.size == args.articles + 100
    engine = RelatedEngine(loaded, RelatedSettings())
    digest = [f"bench/{n}" for n in range(0, args.digest * 37, 37)]
    label = f"related for {args.digest} digest articles"
    _, first = timed(f"{label} (first call)", lambda: engine.related(digest, exclude=digest))
    answers, warm = timed(f"{label} (again)", lambda: engine.related(digest, exclude=digest))
    assert all(len(found) == 3 for found in answers.values())
    many = [f"bench/{n}" for n in range(0, 2000 * 41, 41)]
    timed("related for 2,000 articles", lambda: engine.related(many))
    top, brute = timed(
        f"naive: exact cosine against all, {args.digest}", lambda: naive_top3(loaded, digest)
    )
    same = sum(
        len({loaded.ids[c] for c in row} & {r.id for r in answers[digest[k]]})
        for k, row in enumerate(top)
    )
    print()
    print(f"digest answer {warm * 1000:.0f} ms; first call {first * 1000:.0f} ms")
    print(f"naive / engine: {brute / warm:.1f}x")
    print(
        f"top-3 overlap with plain cosine: {same}/{3 * len(digest)} (tags, section, recency differ)"
    )
    store.close()
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
