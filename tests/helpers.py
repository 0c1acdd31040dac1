"""Small builders shared by the tests."""

from __future__ import annotations

from pathlib import Path

from publisher.app import App
from publisher.gather import GatherReport, gather


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
    return gather(app.store, app.section_sources(section))


def counts(report: GatherReport, section: str = "opinion") -> dict[str, int]:
    return report.sections[section].counts()
