"""Benchmark: 50 sections x 50 items plus `all`, from a store of 20,000 articles.

Times a full build, a run where nothing changed, a run after one article changed, and the
naive way: a plain feedgen loop that rebuilds and writes every file unconditionally.

    .venv/bin/python bench/feeds.py [--articles 20000] [--sections 50]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedgen.feed import FeedGenerator

from publisher.feeds.build import feed_infos, json_feed
from publisher.feeds.write import publish_feeds
from publisher.gather import content_hash
from publisher.models import Article
from publisher.settings import Settings, settings_from_dict
from publisher.store import Store
from publisher.store.articles import StoredArticle

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
BODY = "<p>" + "A paragraph of reporting with enough words to look like an article. " * 40 + "</p>"


def make_articles(count: int, sections: list[str]) -> list[StoredArticle]:
    items = []
    for n in range(count):
        section = sections[n % len(sections)]
        when = NOW - timedelta(minutes=7 * n)
        article = Article(
            id=f"{section}/story-{n}",
            url=f"https://bench.example/{section}/story-{n}/",
            title=f"Story {n} in {section}",
            summary=f"What happened in story {n}.",
            content=BODY,
            section=section,
            authors=(f"Reporter {n % 40}",),
            tags=("politics", f"tag-{n % 30}"),
            published=when,
            updated=when,
            image=f"https://bench.example/images/{n}.jpg",
            image_alt=f"Picture {n}",
        )
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


def naive(settings: Settings, store: Store, folder: Path) -> None:
    """What most code does: rebuild every feed with feedgen and write every file, every time."""
    folder.mkdir(parents=True, exist_ok=True)
    for info in feed_infos(settings):
        articles = store.articles.newest(section=info.section, limit=settings.feeds.items)
        generator = FeedGenerator()
        generator.id(info.url("atom"))
        generator.title(info.title)
        generator.subtitle(info.description)
        generator.link(href=info.home, rel="alternate")
        for article in articles:
            entry = generator.add_entry(order="append")
            entry.id(article.id)
            entry.title(article.title)
            entry.link(href=article.url)
            entry.summary(article.summary)
            entry.content(article.content, type="html")
            entry.published(article.published)
            entry.updated(article.updated)
        generator.rss_file(str(folder / info.filename("rss")), pretty=True)
        generator.atom_file(str(folder / info.filename("atom")), pretty=True)
        (folder / info.filename("json")).write_bytes(json_feed(info, articles))


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--sections", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="publisher-feeds-bench-"))
    slugs = [f"section-{n:02d}" for n in range(args.sections)]
    settings = settings_from_dict(
        {
            "site": {"name": "Bench", "url": "https://bench.example"},
            "storage": {"url": "sqlite:///bench.db"},
            "sections": [{"slug": s, "title": s.title()} for s in slugs],
            "feeds": {"items": 50, "path": "feeds"},
        },
        base_dir=work,
    )
    store = Store.open(settings.database_url)
    items = make_articles(args.articles, slugs)
    store.articles.save_gathered(new=items, changed=[], touched=[], state=None, now=NOW)
    print(
        f"store: {store.articles.count()} articles in {args.sections} sections; "
        f"median of {args.runs} runs"
    )

    start = time.perf_counter()
    first = publish_feeds(settings, store.articles, now=NOW)
    full = time.perf_counter() - start
    files = len(first.written)
    print(f"full build (empty folder)            {full:8.3f} s   {files} files written")
    forced = best_of(
        args.runs, lambda: publish_feeds(settings, store.articles, now=NOW, force=True)
    )
    print(f"full rebuild (--force, same bytes)   {forced:8.3f} s")
    nochange = best_of(args.runs, lambda: publish_feeds(settings, store.articles, now=NOW))
    report = publish_feeds(settings, store.articles, now=NOW)
    assert report.written == [], report.written
    print(f"no-change run                        {nochange:8.3f} s   0 files written")

    def one_edit() -> None:
        edited = items[0].article.__class__(
            **{**items[0].article.__dict__, "title": f"Edited {time.time()}"}
        )
        changed = StoredArticle(
            article=edited,
            source="bench",
            origin=edited.id,
            fingerprint="",
            content_hash=content_hash(edited),
        )
        store.articles.save_gathered(new=[], changed=[changed], touched=[], state=None, now=NOW)
        result = publish_feeds(settings, store.articles, now=NOW)
        assert len(result.written) == 6, result.written

    edit = best_of(args.runs, one_edit)
    print(f"one article edited (2 feeds rebuilt) {edit:8.3f} s   6 files written")
    plain = best_of(args.runs, lambda: naive(settings, store, work / "naive"))
    print(f"naive feedgen loop, writes all       {plain:8.3f} s   {files} files written")
    print()
    print(
        f"naive / no-change run: {plain / nochange:.1f}x   "
        f"naive / one-edit run: {plain / edit:.1f}x"
    )
    print(
        json.dumps(
            {"full": full, "force": forced, "nochange": nochange, "one_edit": edit, "naive": plain}
        )
    )
    store.close()
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
