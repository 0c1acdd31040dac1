"""Benchmark: every message of a daily edition for 100,000 confirmed subscribers, to final bytes;
and the planning step: the edition, its variants and 100,000 delivery rows recorded in one
transaction, on SQLite and on PostgreSQL, against a transaction per delivery row.

Subscribers choose at random among 6 sections; 60 new articles (10 a section) wait, beside an
archive of 3,000 older ones for related links. The edition is built the way `send --dry-run`
builds it (plan, one render and premailer run per variant, bytes assembled per subscriber),
in a child process so that its peak memory is its own. The naive way (Jinja render +
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
from publisher.gather import content_hash
from publisher.models import Article, EditionKind, Subscriber, SubscriberStatus
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


def article(n: int, rng: random.Random, when: datetime) -> StoredArticle:
    section = SECTIONS[n % len(SECTIONS)]
    words = [rng.choice(WORDS) for _ in range(120)]
    item = Article(
        id=f"{section}/story-{n}",
        url=f"https://todaypress.example/{section}/story-{n}/",
        title=f"{words[0].title()} {words[1]} and the {words[2]} of {words[3]} ({n})",
        summary=" ".join(words[:40]) + ".",
        content="<p>" + " ".join(words) + "</p>",
        section=section,
        authors=("A Reporter",),
        tags=(words[4], words[5]),
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


def populate(work: Path, count: int, url: str = "sqlite:///bench.db") -> None:
    app = open_app(settings(work, url))
    rng = random.Random(5)
    archive = [article(n, rng, NOW - timedelta(days=10, minutes=n)) for n in range(1000, 4000)]
    app.store.articles.save_gathered(
        new=archive, changed=[], touched=[], state=None, now=NOW - timedelta(days=10)
    )
    fresh = [article(n, rng, NOW - timedelta(minutes=2 * n)) for n in range(10 * len(SECTIONS))]
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
    mailer = build_mailer(app)
    edition = new_edition(EditionKind.DAILY, NOW, app.settings.site.zone)
    report = mailer.dry_run(edition, workers=workers)
    seconds = time.perf_counter() - start
    return {
        "subscribers": report.subscribers,
        "messages": report.messages,
        "variants": report.variants,
        "premailer_runs": report.premailer_runs,
        "bytes": report.bytes,
        "workers": workers,
        "total_s": seconds,
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
    env = mailer.renderer.env
    start = time.perf_counter()
    for subscriber, fingerprint in plan.recipients:
        recipient = mailer.recipient(subscriber, edition)
        context = mailer.renderer._context(
            edition, plan.variants[fingerprint], mailer.related_links
        )
        context["slots"] = {
            "greeting": recipient.greeting,
            "unsubscribe": recipient.unsubscribe_url,
            "preferences": recipient.preferences_url,
        }
        html = Premailer(
            env.get_template("email/digest.html.j2").render(context),
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
        message["Subject"] = context["subject"]
        message["Message-ID"] = recipient.message_id
        message["List-Unsubscribe"] = recipient.list_unsubscribe
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(env.get_template("email/digest.txt.j2").render(context))
        message.add_alternative(html, subtype="html")
        message.as_bytes()
    seconds = (time.perf_counter() - start) / len(plan.recipients)
    app.close()
    return seconds


def mime_only(work: Path, sample: int) -> tuple[float, float]:
    """Seconds a message for the MIME step alone: EmailMessage from rendered bodies, against
    assembling bytes from the pre-encoded variant (both with each subscriber's own values)."""
    from publisher.digest.message import Envelope, PreparedVariant, personalise

    app = open_app(settings(work))
    mailer = build_mailer(app)
    edition = new_edition(EditionKind.DAILY, NOW, app.settings.site.zone)
    plan = mailer.plan(edition, list(mailer.audience(edition))[: sample * 20])
    fingerprint = max(plan.variants, key=lambda fp: len(plan.variants[fp].articles))
    rendered = mailer.renderer.render(edition, plan.variants[fingerprint], mailer.related_links)
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
        f"{result['total_s'] / messages * 1e6:.0f} µs a message"
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
