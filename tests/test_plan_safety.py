"""Planning editions is safe to stop and to run twice at once: real processes, killed with
SIGKILL at moments spread over a whole plan, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from publisher.models import Frequency, SubscriberStatus
from publisher.store import Store
from publisher.store.schema import deliveries, edition_variants, editions
from publisher.store.subscribers import NewSubscriber
from tests.helpers import article, put_articles

SECTIONS = ("world", "culture", "business")


def project(tmp_path: Path, url: str) -> Path:
    """A settings file on `url`, with fresh articles and no sources to gather."""
    sections = "".join(
        f'[[sections]]\nslug = "{slug}"\ntitle = "{slug.title()}"\n\n' for slug in SECTIONS
    )
    (tmp_path / "settings.toml").write_text(
        '[site]\nname = "TodayPress"\nurl = "https://todaypress.example"\n\n'
        f'[storage]\nurl = "{url}"\n\n{sections}'
        "[digest]\nrelated_links = 0\n",
        encoding="utf-8",
    )
    return tmp_path


def fill(url: str, readers: int) -> None:
    """Fresh articles in every section, and `readers` confirmed daily readers."""
    store = Store.open(url)
    now = datetime.now(UTC)
    stories = [
        article(n, section, published=now - timedelta(hours=n), updated=now - timedelta(hours=n))
        for section in SECTIONS
        for n in range(1, 5)
    ]
    put_articles(store, stories, now=now - timedelta(minutes=5))
    people = (
        NewSubscriber(
            email=f"reader{n}@example.com",
            name=f"Reader {n}",
            sections=SECTIONS[: 1 + n % 3],
            frequency=Frequency.DAILY,
            status=SubscriberStatus.CONFIRMED,
        )
        for n in range(readers)
    )
    store.subscribers.add_many(people, now=now - timedelta(days=10))
    store.close()


def planner(folder: Path, kind: str = "daily") -> subprocess.Popen[str]:
    env = {**os.environ, "PUBLISHER_SECRET_KEY": "plan-safety-secret-0123456789"}
    return subprocess.Popen(
        [sys.executable, "-m", "publisher", "-v", "editions", "plan", "--edition", kind, "--json"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def counts(url: str) -> tuple[int, int, int, int]:
    """(editions, variants, delivery rows, distinct readers with a delivery)."""
    store = Store.open(url)
    with store.db.reading() as conn:
        found = (
            conn.execute(select(func.count()).select_from(editions)).scalar_one(),
            conn.execute(select(func.count()).select_from(edition_variants)).scalar_one(),
            conn.execute(select(func.count()).select_from(deliveries)).scalar_one(),
            conn.execute(select(func.count(deliveries.c.subscriber_id.distinct()))).scalar_one(),
        )
    store.close()
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_planner_killed_at_any_moment_leaves_one_whole_plan(backend, tmp_path, request):
    url = (
        f"sqlite:///{tmp_path / 'plan.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    readers = 20_000
    folder = project(tmp_path, url)
    fill(url, readers)
    killed_while_planning = 0
    delay, finished = 0.4, None
    while finished is None:
        process = planner(folder)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            _, stderr = process.communicate()
            killed_while_planning += "planning lock held" in stderr
            assert counts(url)[0] in (0, 1)  # nothing, or the whole plan
            delay += 0.35
            continue
        stdout, stderr = process.communicate()
        assert process.returncode == 0, stderr
        finished = json.loads(stdout)
    assert killed_while_planning >= 1, "no kill landed while the plan was being made"
    assert counts(url) == (1, finished["variants"], readers, readers)
    assert finished["deliveries"] == readers
    # Once more: the same plan, and not one row more.
    again = planner(folder)
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    assert json.loads(stdout) == {**finished, "created": False}
    assert counts(url) == (1, finished["variants"], readers, readers)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_daily_and_a_manual_edition_planned_at_once_share_no_article(backend, tmp_path, request):
    url = (
        f"sqlite:///{tmp_path / 'plan.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    folder = project(tmp_path, url)
    fill(url, 3000)
    both = [planner(folder, "daily"), planner(folder, "manual")]
    results = []
    for process in both:
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr
        results.append(json.loads(stdout))
    assert sum(r["deliveries"] for r in results) == 3000  # one edition took everything
    store = Store.open(url)
    query = select(deliveries.c.subscriber_id, edition_variants.c.article_ids).join(
        edition_variants, edition_variants.c.id == deliveries.c.variant_id
    )
    seen: dict[int, set[str]] = {}
    with store.db.reading() as conn:
        for row in conn.execute(query):
            twice = seen.setdefault(row.subscriber_id, set()) & set(row.article_ids)
            assert not twice, f"reader {row.subscriber_id} was given {twice} twice"
            seen[row.subscriber_id].update(row.article_ids)
    store.close()
    assert len(seen) == 3000


def test_two_gathers_at_once_both_finish_and_store_each_article_once(tmp_path):
    content = tmp_path / "content"
    for n in range(300):
        folder = content / SECTIONS[n % 3]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"story-{n}.md").write_text(
            f'---\ntitle: "Story {n}"\ndate: 2026-11-20T08:00:00Z\n---\n\nBody {n}.\n',
            encoding="utf-8",
        )
    sources = "".join(
        f'[[sections]]\nslug = "{s}"\ntitle = "{s}"\n'
        f'[[sections.sources]]\ntype = "markdown"\npath = "content/{s}"\n\n'
        for s in SECTIONS
    )
    (tmp_path / "settings.toml").write_text(
        '[site]\nname = "T"\nurl = "https://t.example"\n\n'
        f'[storage]\nurl = "sqlite:///var/t.db"\n\n{sources}',
        encoding="utf-8",
    )
    Store.open(f"sqlite:///{tmp_path / 'var' / 't.db'}").close()  # migrated before the race
    command = [sys.executable, "-m", "publisher", "gather", "--json", "--no-feeds"]
    runs = [
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    reports = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr.decode()
        reports.append(json.loads(stdout))
    new = sum(c["new"] for r in reports for c in r["sections"].values())
    unchanged = sum(c["unchanged"] for r in reports for c in r["sections"].values())
    assert new == 300 and new + unchanged == 600  # counts add up: each article new once
    store = Store.open(f"sqlite:///{tmp_path / 'var' / 't.db'}")
    assert store.articles.count() == 300
    store.close()
