"""Benchmark: gathering 10,000 generated Markdown articles, then re-gathering with no change;
and gathering 1,500 small upstream RSS feeds from a loopback server, one at a time and in
parallel.

Compares the incremental re-gather (files with the same mtime and size are skipped unread)
against the naive re-gather that reads, parses and hashes every file again; and the feeds
fetched one after another (one worker: the way gathering worked before) against the parallel
pool (per-host limit, overall deadline), in sources a second.

    .venv/bin/python bench/gather.py [--articles 10000] [--feeds 1500] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from common import SECTIONS
from upstream import ITEMS, start_server

from publisher.app import open_app
from publisher.gather import SectionSources, gather
from publisher.models import GatherReport
from publisher.settings import settings_from_dict
from publisher.sources import Batch, ContentSource, Previous

_VOCABULARY = """river treaty court harvest port strike minister council election festival drought
border union museum language elders ruling market prices shipping film novel climate summit water
land rights mining archive choir ferry trade tariff budget parliament envoy"""
WORDS = _VOCABULARY.split()


def generate(root: Path, count: int, seed: int = 7) -> None:
    """Write `count` articles of ~400 words spread over the sections."""
    rng = random.Random(seed)
    for n in range(count):
        section = SECTIONS[n % len(SECTIONS)]
        folder = root / section
        folder.mkdir(parents=True, exist_ok=True)
        words = [rng.choice(WORDS) for _ in range(400)]
        paragraphs = "\n\n".join(" ".join(words[i : i + 80]) + "." for i in range(0, 400, 80))
        tags = ", ".join(sorted(set(rng.sample(WORDS, 3))))
        day = 1 + n % 27
        (folder / f"article-{n:05d}.md").write_text(
            f'---\ntitle: "Article {n}: {words[0]} and {words[1]}"\n'
            f"date: 2026-11-{day:02d}T{n % 24:02d}:{n % 60:02d}:00Z\n"
            f"author: Reporter {n % 50}\ntags: [{tags}]\n"
            f"image: /images/{n}.jpg\nimage_alt: Picture {n}\n---\n\n"
            f"## {words[2].title()}\n\n{paragraphs}\n\nSee [the archive](/archive/{n}/).\n",
            encoding="utf-8",
        )


@dataclass
class ReadEverything:
    """The naive way: ignore stored fingerprints, so every file is read and parsed again."""

    inner: ContentSource

    @property
    def key(self) -> str:
        return self.inner.key

    def fetch(self, previous: Previous) -> Batch:
        return self.inner.fetch(Previous(state=previous.state))


def timed(label: str, run: Callable[[], GatherReport]) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    report = run()
    seconds = time.perf_counter() - start
    totals = {
        k: sum(r.counts()[k] for r in report.sections.values())
        for k in ("new", "updated", "unchanged", "rejected")
    }
    print(f"{label:<38} {seconds:8.3f} s   {totals}")
    return seconds, totals


def bench_feeds(work: Path, count: int, latency: float) -> None:
    """Gather `count` feeds: one at a time (as before), then the parallel pool; then all 304s.

    With a latency, one at a time is measured on at most 200 feeds (its rate is steady)."""
    server, hosts = start_server(latency=latency)
    print(f"-- {count} feeds of {ITEMS} items, {len(hosts)} hosts, latency {latency * 1000:.0f} ms")
    try:
        rates = {}
        for label, workers in (("one at a time (before)", 1), ("parallel pool", 32)):
            feeds = min(count, 200) if latency and workers == 1 else count
            urls = [f"{hosts[n % len(hosts)]}/feed/{n}.xml" for n in range(feeds)]
            app = _feeds_app(work / f"feeds-{workers}", urls, workers)
            run = partial(gather, app.store, app.section_sources(), settings=app.settings.gather)
            seconds, totals = timed(f"{feeds} feeds, {label}", run)
            assert totals["new"] == ITEMS * feeds and totals["rejected"] == 0, totals
            rates[workers] = feeds / seconds
            print(f"  {rates[workers]:.0f} sources/s")
            seconds, totals = timed(f"{feeds} feeds again (all 304), {label}", run)
            assert totals["unchanged"] == ITEMS * feeds, totals
            print(f"  {feeds / seconds:.0f} sources/s when nothing changed")
            app.close()
        print(
            f"sources a second: {rates[1]:.0f} one at a time, {rates[32]:.0f} in parallel "
            f"({rates[32] / rates[1]:.1f}x)"
        )
    finally:
        server.kill()


def _feeds_app(folder: Path, urls: list[str], workers: int):
    per_section = -(-len(urls) // len(SECTIONS))
    raw = {
        "site": {"name": "Bench", "url": "https://bench.example"},
        "storage": {"url": "sqlite:///bench.db"},
        "gather": {"workers": workers, "per_host": 4, "http_timeout": 20},
        "sections": [
            {
                "slug": s,
                "title": s,
                "sources": [
                    {"type": "feed", "url": url}
                    for url in urls[i * per_section : (i + 1) * per_section]
                ],
            }
            for i, s in enumerate(SECTIONS)
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.db").unlink(missing_ok=True)
    return open_app(settings_from_dict(raw, base_dir=folder))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000, help="0: skip the Markdown case")
    parser.add_argument("--feeds", type=int, default=1_500, help="0: skip the feeds case")
    parser.add_argument(
        "--latency",
        type=float,
        nargs="*",
        default=[0.0, 0.1],
        help="seconds each upstream answer takes (default: 0 and 0.1, as over the internet)",
    )
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="publisher-bench-"))
    for latency in args.latency if args.feeds else ():
        bench_feeds(work, args.feeds, latency)
    if args.articles:
        bench_markdown(work, args.articles)
    if not args.keep:
        shutil.rmtree(work)


def bench_markdown(work: Path, articles: int) -> None:
    """Gather `articles` Markdown files, re-gather unchanged, naive re-gather, edit ten."""
    args = argparse.Namespace(articles=articles)
    content = work / "content"
    if content.exists():
        shutil.rmtree(content)
    (work / "var" / "bench.db").unlink(missing_ok=True)
    started = time.perf_counter()
    generate(content, args.articles)
    print(
        f"generated {args.articles} articles in {time.perf_counter() - started:.1f} s under {work}"
    )
    raw = {
        "site": {"name": "Bench", "url": "https://bench.example"},
        "storage": {"url": "sqlite:///var/bench.db"},
        "sections": [
            {"slug": s, "title": s, "sources": [{"type": "markdown", "path": f"content/{s}"}]}
            for s in SECTIONS
        ],
    }
    app = open_app(settings_from_dict(raw, base_dir=work))
    sections = app.section_sources()
    naive = [
        SectionSources(slug=s.slug, sources=tuple(ReadEverything(x) for x in s.sources))
        for s in sections
    ]
    first, totals = timed("first gather (all new)", lambda: gather(app.store.articles, sections))
    assert totals["new"] == args.articles, totals
    again, totals = timed(
        "re-gather, nothing changed", lambda: gather(app.store.articles, sections)
    )
    assert totals["unchanged"] == args.articles and totals["new"] == totals["updated"] == 0
    slow, totals = timed(
        "naive re-gather (read every file)", lambda: gather(app.store.articles, naive)
    )
    assert totals["unchanged"] == args.articles
    for path in sorted(content.rglob("*.md"))[:10]:
        path.write_text(path.read_text().replace('title: "', 'title: "Edited '), encoding="utf-8")
    _, totals = timed(
        "re-gather after editing 10 files", lambda: gather(app.store.articles, sections)
    )
    assert totals["updated"] == 10, totals
    app.close()
    print()
    print(f"re-gather / first gather: {again / first:.4f} ({first / again:.0f}x cheaper)")
    print(f"naive re-gather / incremental re-gather: {slow / again:.1f}x")


if __name__ == "__main__":
    main()
