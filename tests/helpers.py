"""Small builders shared by the tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from publisher.app import App
from publisher.gather import content_hash, gather
from publisher.models import Article, GatherReport
from publisher.store import Store
from publisher.store.articles import StoredArticle


def write_article(folder: Path, name: str, text: str | bytes) -> Path:
    """Write one Markdown file (text or raw bytes) into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def markdown(
    title: str = "A title",
    date: str = "2026-11-20T08:00:00Z",
    body: str = "Body text.",
    **extra: str,
) -> str:
    """A Markdown article with YAML front matter."""
    lines = ["---"]
    if title is not None:
        lines.append(f'title: "{title}"')
    if date is not None:
        lines.append(f"date: {date}")
    lines += [f"{key}: {value}" for key, value in extra.items()]
    lines += ["---", "", body, ""]
    return "\n".join(lines)


def run_gather(app: App, section: str | None = None) -> GatherReport:
    """Gather like `publisher gather` does."""
    return gather(app.store.articles, app.section_sources(section))


def counts(report: GatherReport, section: str = "opinion") -> dict[str, int]:
    return report.sections[section].counts()


def article(n: int, section: str = "world", **changes: object) -> Article:
    """A complete article; `n` orders them (a higher n is newer)."""
    values: dict[str, object] = {
        "id": f"{section}/story-{n}",
        "url": f"https://todaypress.example/{section}/story-{n}/",
        "title": f"Story {n}",
        "summary": f"Summary of story {n}.",
        "content": f"<p>Body of story {n}.</p>",
        "section": section,
        "authors": ("Ana Ruiz",),
        "tags": ("water", "courts"),
        "published": datetime(2026, 11, 1, tzinfo=UTC).replace(hour=n % 24, day=1 + n // 24),
        "updated": datetime(2026, 11, 1, tzinfo=UTC).replace(hour=n % 24, day=1 + n // 24),
        "image": f"https://todaypress.example/images/{n}.jpg",
        "image_alt": f"Picture {n}",
    }
    values.update(changes)
    return Article(**values)  # type: ignore[arg-type]


STORY_DAY = datetime(2026, 11, 20, tzinfo=UTC)


def story(n: int, title: str, text: str, **changes: object) -> Article:
    """An article of one paragraph, untagged, published `n` hours after STORY_DAY."""
    values: dict[str, object] = {
        "title": title,
        "summary": text.split(".")[0] + ".",
        "content": f"<p>{text}</p>",
        "published": STORY_DAY + timedelta(hours=n),
        "updated": STORY_DAY + timedelta(hours=n),
        "tags": (),
    }
    values.update(changes)
    return article(n, **values)


def put_articles(
    store: Store, articles: Iterable[Article], *, changed: bool = False, now: datetime | None = None
) -> None:
    """Store articles as gathering would at `now` (insert, or update with `changed`)."""
    items = [
        StoredArticle(
            article=a, source="test", origin=a.id, fingerprint="", content_hash=content_hash(a)
        )
        for a in articles
    ]
    now = now or datetime(2026, 11, 28, tzinfo=UTC)
    if changed:
        store.articles.save_gathered(new=[], changed=items, touched=[], state=None, now=now)
    else:
        store.articles.save_gathered(new=items, changed=[], touched=[], state=None, now=now)
