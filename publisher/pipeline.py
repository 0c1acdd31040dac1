"""The orchestrator: each job is a short sequence of stage calls, as the architecture reads."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Collection
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from publisher.app import App, open_app
from publisher.feeds.write import publish_feeds
from publisher.gather import gather
from publisher.models import (
    BuildReport,
    Edition,
    FeedsReport,
    GatherReport,
    RelatedLookup,
    RelatedSource,
)
from publisher.settings import Settings

if TYPE_CHECKING:
    from publisher.delivery.deliver import Deliverer
    from publisher.delivery.transports import Transport
    from publisher.digest.build import Mailer
    from publisher.related.engine import RelatedEngine


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
    """Gather, rebuild the feeds whose articles changed (a scheduled article's date may have
    come without any gathering change), and bring the related index up to date."""
    report = gather(
        app.store.articles,
        app.section_sources(section),
        settings=app.settings.gather,
        on_source=on_source,
        archive_older_than=timedelta(days=app.settings.digest.lookback_days),
    )
    written = refresh_feeds(app) if feeds else None
    if app.live_related is not None:
        app.live_related.refresh()  # cheap when nothing changed; sees other processes' gathers
    elif report.changed:
        related_engine(app)
    return GatherRun(gathered=report, feeds=written)


def refresh_feeds(app: App, *, force: bool = False) -> FeedsReport:
    """Rewrite the feeds whose articles changed."""
    now = datetime.now(UTC)
    return publish_feeds(app.settings, app.store.articles, now=now, http=app.http, force=force)


def related_source(app: App) -> RelatedSource:
    """Related links for an edition's digests, from an index brought up to date on first use."""
    from publisher.related.links import DigestLinks

    links: DigestLinks | None = None

    def for_edition(universe: Collection[str]) -> RelatedLookup:
        nonlocal links
        if links is None:
            limit = app.settings.digest.related_links
            links = DigestLinks(related_engine(app), app.store.articles, limit=limit)
        return links.for_edition(universe)

    return for_edition


def mailer(app: App) -> Mailer:
    """The digest builder on this app's settings and store, with related links."""
    from publisher.digest.build import Mailer

    return Mailer(app.settings, app.store, related_source(app))


def deliverer(app: App, transport: Transport, *, owner: str | None = None) -> Deliverer:
    """The delivery loop on this app's store, sending through `transport`."""
    from publisher.delivery.deliver import Deliverer
    from publisher.digest.compose import Composer

    composer = Composer(mailer(app))
    return Deliverer(
        app.store.deliveries,
        composer,
        transport,
        app.settings.delivery,
        owner=owner,
        senders=app.store.leases,
    )


def dry_run(app: App, edition: Edition, *, workers: int = 0) -> BuildReport:
    """Build every message of the edition to its final bytes, sending and recording nothing,
    in `workers` processes (default: `digest.workers`, or one per core) that each take a
    share of the subscribers.

    The workers are started fresh (spawn), never forked: this process may hold threads
    (the scheduler, the web server, a delivery pool), and a fork copies their locks."""
    workers = workers or app.settings.digest.workers or os.cpu_count() or 1
    if workers == 1:
        return mailer(app).dry_run(edition)
    if app.settings.digest.related_links:
        related_engine(app)  # the index brought up to date here, not by each worker at once
    report = BuildReport(edition=edition.key)
    context = multiprocessing.get_context("spawn")
    jobs = [(app.settings, edition, (shard, workers)) for shard in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        for share in pool.map(_dry_run_share, jobs):
            report.add(share)
    return report


def _dry_run_share(job: tuple[Settings, Edition, tuple[int, int]]) -> BuildReport:
    """One worker process's share of a dry run."""
    settings, edition, shard = job
    app = open_app(settings)
    try:
        return mailer(app).dry_run(edition, shard)
    finally:
        app.close()


def related_engine(app: App, *, rebuild: bool = False) -> RelatedEngine:
    """The related-articles engine on an index brought up to date with the store (and saved)."""
    if app.live_related is not None:
        if rebuild:
            raise ValueError("a live related index is never rebuilt from scratch")
        return app.live_related.engine()
    # Imported here: scikit-learn takes a second to import, and most commands never need it.
    from publisher.related.engine import RelatedEngine
    from publisher.related.index import refresh_index

    path = app.settings.resolve(app.settings.related.index_path)
    return RelatedEngine(
        refresh_index(app.store.articles, path, rebuild=rebuild), app.settings.related
    )
