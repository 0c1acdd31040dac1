"""Benchmark: every message of a daily edition for 100,000 confirmed subscribers, to final bytes;
and the planning step: the edition, its variants and 100,000 delivery rows recorded in one
transaction, on SQLite and on PostgreSQL, against a transaction per delivery row.

Readers take each of N sections (--sections, default 6) with probability 0.3, and at least one;
10 new articles a section wait, beside an archive of 3,000 older ones for related links, all
drawn from a 20,000-word vocabulary in stories that run across sections and days. The edition
is built the way `send --dry-run` builds it (plan; the page and each distinct block inlined
once; variants joined from encoded pieces; bytes assembled per subscriber), in a child process
so that its peak memory is its own. The naive way (Jinja render +
premailer + EmailMessage for each subscriber) is timed on a sample and extrapolated.

    .venv/bin/python bench/digest.py [--subscribers 100000] [--sample 200] [--planning-only]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from common import SECTIONS as SAMPLE_SECTIONS

from publisher.app import open_app
from publisher.digest.editions import new_edition
from publisher.digest.message import personalise
from publisher.gather import content_hash
from publisher.models import Article, EditionKind, Subscriber, SubscriberStatus
from publisher.pipeline import dry_run
from publisher.pipeline import mailer as build_mailer
from publisher.settings import Settings, settings_from_dict
from publisher.store.articles import StoredArticle
from publisher.store.subscribers import NewSubscriber

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
WORDS = ["river", "treaty", "court", "harvest", "port", "strike", "council", "election", "union"]


SECTIONS = list(SAMPLE_SECTIONS)  # set from --sections before anything is built
TAKE = 0.3  # a reader takes each section with this probability (and at least one)
PG_ADMIN = os.environ.get("PUBLISHER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def settings(work: Path, url: str = "sqlite:///bench.db") -> Settings:
    os.environ.setdefault("PUBLISHER_SECRET_KEY", "bench-secret-key-0123456789")
    return settings_from_dict(
        {
            "site": {"name": "TodayPress", "url": "https://todaypress.example"},
            "storage": {"url": url},
            "sections": [{"slug": s, "title": s.replace("-", " ").title()} for s in SECTIONS],
            "digest": {"max_per_section": 10},
        },
        base_dir=work,
    )


class NewsCorpus:
    """Articles as a news site has them: words from a Zipf-distributed vocabulary, grouped into
    stories (a story's articles share its own words, across sections and days)."""

    def __init__(self, seed: int = 5, vocabulary: int = 20_000) -> None:
        self.rng = random.Random(seed)
        self.words = [
            f"{WORDS[n % len(WORDS)]}{n}" if n >= len(WORDS) else WORDS[n]
            for n in range(vocabulary)
        ]
        weights = [1 / (rank + 1) ** 1.1 for rank in range(vocabulary)]
        self.common = self.rng.choices(self.words, weights=weights, k=200_000)
        self.cursor = 0

    def story_words(self, story: int) -> list[str]:
        return random.Random(story).sample(self.words[500:], 12)

    def article(self, n: int, story: int, section: str, when: datetime) -> StoredArticle:
        own = self.story_words(story)
        body = [self._common() if k % 4 else self.rng.choice(own) for k in range(160)]
        item = Article(
            id=f"{section}/story-{n}",
            url=f"https://todaypress.example/{section}/story-{n}/",
            title=f"{' '.join(self.rng.sample(own, 4)).title()} ({n})",
            summary=" ".join(body[:40]) + ".",
            content="<p>" + " ".join(body) + "</p>",
            section=section,
            authors=("A Reporter",),
            tags=(own[0], own[1]),
            published=when,
            updated=when,
            image=f"https://todaypress.example/images/{n}.jpg",
            image_alt=f"Picture {n}",
        )
        return StoredArticle(
            article=item,
            source="bench",
            origin=item.id,
            fingerprint="",
            content_hash=content_hash(item),
        )

    def _common(self) -> str:
        self.cursor = (self.cursor + 1) % len(self.common)
        return self.common[self.cursor]


def populate(work: Path, count: int, url: str = "sqlite:///bench.db") -> None:
    """3,000 archive articles in 1,000 stories; ten new articles a section, in stories of
    one to four articles across sections (a third of them carry on an archive story)."""
    app = open_app(settings(work, url))
    rng = random.Random(5)
    corpus = NewsCorpus()
    archive = [
        corpus.article(n, n % 1000, rng.choice(SECTIONS), NOW - timedelta(days=10, minutes=n))
        for n in range(1000, 4000)
    ]
    app.store.articles.save_gathered(
        new=archive, changed=[], touched=[], state=None, now=NOW - timedelta(days=10)
    )
    fresh, n = [], 0
    while n < 10 * len(SECTIONS):
        story = rng.randrange(1000) if rng.random() < 1 / 3 else 5000 + n
        for _ in range(min(rng.randint(1, 4), 10 * len(SECTIONS) - n)):
            when = NOW - timedelta(minutes=2 * n)
            fresh.append(corpus.article(n, story, SECTIONS[n % len(SECTIONS)], when))
            n += 1
    app.store.articles.save_gathered(
        new=fresh, changed=[], touched=[], state=None, now=NOW - timedelta(hours=1)
    )
    people = (
        NewSubscriber(
            email=f"reader{n}@example.com",
            name=rng.choice(["", "Ana Ruiz", "Jun Park", "Léa Novak", "O'Brien & Sons", "李雷"]),
            sections=tuple(s for s in SECTIONS if rng.random() < TAKE) or (rng.choice(SECTIONS),),
            status=SubscriberStatus.CONFIRMED,
        )
        for n in range(count)
    )
    app.store.subscribers.add_many(people, now=NOW - timedelta(days=30))
    app.close()


def build(work: Path, workers: int) -> dict[str, float]:
    """The measured part, run in its own process: every message to bytes, as `send --dry-run`."""
    start = time.perf_counter()
    app = open_app(settings(work))
    edition = new_edition(EditionKind.DAILY, NOW, app.settings.site.zone)
    report = dry_run(app, edition, workers=workers)
    seconds = time.perf_counter() - start
    return {
        "subscribers": report.subscribers,
        "messages": report.messages,
        "variants": report.variants,
        "premailer_runs": report.premailer_runs,
        "bytes": report.bytes,
        "workers": workers,
        "total_s": seconds,
        "steps": report.seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def naive(work: Path, sample: int) -> float:
    """Seconds per message the usual way: render, premailer and EmailMessage per subscriber."""
    from premailer import Premailer

    app = open_app(settings(work))
    mailer = build_mailer(app)
    edition = new_edition(EditionKind.DAILY, NOW, app.settings.site.zone)
    people: list[Subscriber] = list(mailer.audience(edition))[:sample]
    plan = mailer.plan(edition, people)
    render = mailer.edition_render(plan)
    start = time.perf_counter()
    for subscriber, fingerprint in plan.recipients:
        recipient = mailer.recipient(subscriber, edition)
        variant = plan.variants[fingerprint]
        values = {
            "greeting": recipient.greeting,
            "unsubscribe": recipient.unsubscribe_url,
            "preferences": recipient.preferences_url,
        }
        page = render.whole_page(variant)
        for name, marker in mailer.renderer.slots.items():
            page = page.replace(marker, values[name])
        html = Premailer(
            page,
            strip_important=False,
            allow_network=False,
            disable_validation=True,
            cssutils_logging_level=logging.CRITICAL,
        ).transform()
        message = EmailMessage()
        message["From"] = app.settings.digest.sender
        message["To"] = (
            f"{subscriber.name} <{subscriber.email}>" if subscriber.name else subscriber.email
        )
        message["Subject"] = render.subject(variant)
        message["Message-ID"] = recipient.message_id
        message["List-Unsubscribe"] = recipient.list_unsubscribe
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(personalise(render.rendered(variant), recipient, part="text"))
        message.add_alternative(html, subtype="html")
        message.as_bytes()
    seconds = (time.perf_counter() - start) / len(plan.recipients)
    app.close()
    return seconds


def mime_only(work: Path, sample: int) -> tuple[float, float]:
    """Seconds a message for the MIME step alone: EmailMessage from rendered bodies, against
    assembling bytes from the pre-encoded variant (both with each subscriber's own values)."""
    from publisher.digest.message import Envelope, PreparedVariant

    app = open_app(settings(work))
    mailer = build_mailer(app)
    edition = new_edition(EditionKind.DAILY, NOW, app.settings.site.zone)
    plan = mailer.plan(edition, list(mailer.audience(edition))[: sample * 20])
    fingerprint = max(plan.variants, key=lambda fp: len(plan.variants[fp].articles))
    rendered = mailer.edition_render(plan).rendered(plan.variants[fingerprint])
    people = [s for s, fp in plan.recipients if fp == fingerprint][:sample]
    recipients = [mailer.recipient(s, edition) for s in people]
    start = time.perf_counter()
    for recipient in recipients:
        message = EmailMessage()
        message["From"] = app.settings.digest.sender
        message["To"] = recipient.email
        message["Subject"] = rendered.subject
        message["Message-ID"] = recipient.message_id
        message["List-Unsubscribe"] = recipient.list_unsubscribe
        message.set_content(personalise(rendered, recipient, part="text"))
        message.add_alternative(personalise(rendered, recipient, part="html"), subtype="html")
        message.as_bytes()
    stdlib = (time.perf_counter() - start) / len(recipients)
    prepared = PreparedVariant(
        rendered, Envelope(sender=app.settings.digest.sender, list_id="x <y.z>", date=NOW)
    )
    start = time.perf_counter()
    for recipient in recipients:
        prepared.message(recipient)
    assembled = (time.perf_counter() - start) / len(recipients)
    app.close()
    return stdlib, assembled


def planning(work: Path, count: int, url: str) -> dict[str, float]:
    """Seconds to plan the edition into the database (one transaction), and the naive way
    (a transaction per delivery row) timed on a sample and extrapolated."""
    from sqlalchemy import delete, func, insert, select

    from publisher.store.schema import deliveries, editions

    populate(work, count, url)
    app = open_app(settings(work, url))
    mailer = build_mailer(app)
    edition = new_edition(EditionKind.DAILY, NOW, app.settings.site.zone)
    start = time.perf_counter()
    planned = mailer.record(edition, now=NOW)
    seconds = time.perf_counter() - start
    with app.store.db.reading() as conn:
        rows = conn.execute(select(func.count()).select_from(deliveries)).scalar_one()
        columns = conn.execute(select(deliveries).limit(2000)).mappings().all()
    assert rows == planned.deliveries, (rows, planned.deliveries)
    sample = [{k: v for k, v in row.items() if k != "id"} for row in columns]
    with app.store.db.writing() as conn:
        conn.execute(delete(deliveries).where(deliveries.c.id.in_([r["id"] for r in columns])))
    start = time.perf_counter()
    for row in sample:
        with app.store.db.writing() as conn:
            conn.execute(insert(deliveries).values(row))
    per_row = (time.perf_counter() - start) / len(sample)
    with app.store.db.reading() as conn:
        assert conn.execute(select(func.count()).select_from(editions)).scalar_one() == 1
    app.close()
    return {"rows": rows, "seconds": seconds, "naive_s": per_row * rows}


def bench_planning(count: int) -> None:
    """The planning step on SQLite and on a fresh PostgreSQL database."""
    import uuid

    import psycopg

    name = f"publisher_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    postgres = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        for backend, url in (
            ("SQLite", "sqlite:///bench.db"),
            ("PostgreSQL", f"{postgres}/{name}"),
        ):
            with tempfile.TemporaryDirectory(prefix="publisher-plan-bench-") as folder:
                result = planning(Path(folder), count, url)
            print(
                f"planning on {backend}: {result['rows']:,} delivery rows recorded in "
                f"{result['seconds']:.2f} s; a transaction per row: {result['naive_s']:.0f} s "
                f"extrapolated ({result['naive_s'] / result['seconds']:.0f}x)"
            )
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def use_sections(count: int) -> None:
    """The sample's six sections, then as many more desks as asked for."""
    SECTIONS[:] = list(SAMPLE_SECTIONS)[:count] + [f"desk-{n}" for n in range(7, count + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--sections", type=int, default=6, help="sections (desks) of the site")
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="processes (the target: 2 cores)")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--planning-only", action="store_true", help="only the planning step")
    args = parser.parse_args()
    use_sections(args.sections)
    if args.build:
        print(json.dumps(build(args.build, args.workers)))
        return
    if args.planning_only:
        bench_planning(args.subscribers)
        return
    with tempfile.TemporaryDirectory(prefix="publisher-digest-bench-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        populate(work, args.subscribers)
        print(
            f"{args.sections} sections: stored {args.subscribers} subscribers and "
            f"{3000 + 10 * args.sections:,} articles "
            f"in {time.perf_counter() - started:.0f} s"
        )
        # Warm the related index once, as the scheduler keeps it up to date between editions.
        from publisher.pipeline import related_engine

        app = open_app(settings(work))
        related_engine(app)
        app.close()
        command = [sys.executable, __file__, "--build", str(work), "--workers", str(args.workers)]
        command += ["--sections", str(args.sections)]
        child = subprocess.run(command, capture_output=True, text=True, check=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        per_message = naive(work, args.sample)
        stdlib, assembled = mime_only(work, args.sample)
    messages = result["messages"]
    print(
        f"edition: {messages:,} messages, {result['variants']} variants "
        f"({result['premailer_runs']} premailer runs), {result['bytes'] / 2**20:.0f} MB of mail"
    )
    print(
        f"  {result['workers']} processes: {result['total_s']:.2f} s in all, "
        f"{result['total_s'] / messages * 1e6:.0f} µs a message "
        f"({', '.join(f'{k} {v:.2f} s' for k, v in result['steps'].items())})"
    )
    print(
        f"  peak RSS: {result['peak_rss_mb']:.0f} MB planning process, "
        f"{result['peak_worker_rss_mb']:.0f} MB largest worker"
    )
    naive_total = per_message * messages
    print(
        f"naive: {per_message * 1000:.1f} ms a message (sample of {args.sample}), "
        f"{naive_total:.0f} s extrapolated for {messages:,} on one core"
    )
    print(f"naive / publisher: {naive_total / result['total_s']:.0f}x")
    print(
        f"MIME step alone: EmailMessage {stdlib * 1000:.2f} ms, pre-encoded assembly "
        f"{assembled * 1000:.3f} ms a message ({stdlib / assembled:.0f}x)"
    )


if __name__ == "__main__":
    main()
