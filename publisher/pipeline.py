"""The orchestrator: each job is a short sequence of stage calls, as the architecture reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from publisher.app import App
from publisher.feedfiles import FeedsReport, publish_feeds
from publisher.gather import GatherReport, gather


@dataclass(frozen=True, kw_only=True)
class GatherRun:
    """A gather, and the feeds run it triggered (None when nothing changed)."""

    gathered: GatherReport
    feeds: FeedsReport | None


def gather_and_publish(
    app: App,
    *,
    section: str | None = None,
    feeds: bool = True,
    on_source: Callable[[str, str], None] = lambda section, key: None,
) -> GatherRun:
    """Gather, then rebuild the feeds if anything changed."""
    report = gather(app.store, app.section_sources(section), on_source=on_source)
    written = None
    if feeds and report.changed:
        written = refresh_feeds(app)
    return GatherRun(gathered=report, feeds=written)


def refresh_feeds(app: App, *, force: bool = False) -> FeedsReport:
    """Rewrite the feeds whose articles changed."""
    now = datetime.now(UTC)
    return publish_feeds(app.settings, app.store, now=now, http=app.http, force=force)
