"""Gathering: every source of every section fetched, compared with the store, saved atomically."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta

from publisher.models import Article, Candidate, GatherReport, Outcome, Rejection, SectionReport
from publisher.settings import GatherSettings
from publisher.sources import Batch, ContentSource, Previous
from publisher.sources.pool import run_all
from publisher.store.articles import ArticleStore, Existing, SourceChanges, StoredArticle

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class SectionSources:
    """A section's slug and the sources configured for it."""

    slug: str
    sources: tuple[ContentSource, ...]


def gather(
    store: ArticleStore,
    sections: Iterable[SectionSources],
    *,
    settings: GatherSettings | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_source: Callable[[str, str], None] = lambda section, key: None,
    archive_older_than: timedelta | None = None,
) -> GatherReport:
    """Gather every source of the given sections: fetched in parallel, each source's items
    stored as soon as it arrives; the report lists sections and errors in settings order.

    On a source's first gather, articles published more than `archive_older_than` ago are
    archive: they feed the feeds and related links but never a digest (a new install's
    first digest is news, not years of history)."""
    settings = settings or GatherSettings()
    jobs = [(section.slug, source) for section in sections for source in section.sources]
    position = {id(source): index for index, (_, source) in enumerate(jobs)}
    per_source: dict[int, SectionReport] = {}
    outcomes = run_all(
        jobs,
        lambda job: _fetch(store, job[1]),
        host=lambda job: job[1].host,
        where=lambda job: job[1].key,
        workers=settings.workers,
        per_host=settings.per_host,
        deadline=settings.deadline,
    )
    for finished in outcomes:
        ready: list[tuple[ContentSource, Batch, SectionReport]] = []
        for outcome in finished:
            slug, source = outcome.job
            on_source(slug, source.key)
            report = per_source[position[id(source)]] = SectionReport()
            if outcome.error is not None:
                _record_error(report, outcome.error.where, outcome.error.reason)
            elif outcome.result is not None:
                ready.append((source, outcome.result, report))
        _store(store, ready, now(), archive_older_than)
    return _merged(jobs, per_source)


def _fetch(store: ArticleStore, source: ContentSource) -> Batch:
    """Read what the store remembers of a source, then fetch it (in a worker thread)."""
    state = store.source_state(source.key)
    previous = Previous(state=state, fingerprints=store.fingerprints(source.key))
    batch = source.fetch(previous)
    batch.first = not state.saved and not previous.fingerprints
    return batch


def _store(
    store: ArticleStore,
    ready: list[tuple[ContentSource, Batch, SectionReport]],
    now: datetime,
    archive_older_than: timedelta | None,
) -> None:
    """Store what the sources that finished together found, in one transaction."""
    for source, batch, report in ready:
        if batch.error:
            reason = f"{batch.error.reason}; stopped part-way, the rest is fetched next time"
            _record_error(report, batch.error.where, reason)
        if batch.not_modified:
            report.not_modified.append(source.key)
            log.info("source not modified %s", source.key)
    archive_line = now - archive_older_than if archive_older_than is not None else None
    changes: list[SourceChanges] = []

    def plan(existing: dict[str, Existing]) -> list[SourceChanges]:
        claimed: dict[str, tuple[str, str]] = {}  # id → (source, origin) taken in this group
        for source, batch, report in ready:
            archive = archive_line if batch.first else None
            changes.append(_plan(source.key, batch, existing, claimed, report, archive))
        return changes

    ids = (candidate.article.id for _, batch, _ in ready for candidate in batch.candidates)
    store.apply(ids, plan, now=now)
    for change in changes:
        for item in change.new:
            log.info("new article id=%s origin=%s", item.article.id, item.origin)
        for item in change.changed:
            log.info("updated article id=%s origin=%s", item.article.id, item.origin)


def _merged(
    jobs: list[tuple[str, ContentSource]], per_source: dict[int, SectionReport]
) -> GatherReport:
    report = GatherReport()
    for index, (slug, _) in enumerate(jobs):
        section = report.sections.setdefault(slug, SectionReport())
        if index in per_source:
            section.add(per_source[index])
    for slug, section in report.sections.items():
        log.info("gathered section=%s %s", slug, section.counts())
    return report


def _plan(
    key: str,
    batch: Batch,
    existing: dict[str, Existing],
    claimed: dict[str, tuple[str, str]],
    report: SectionReport,
    archive_before: datetime | None,
) -> SourceChanges:
    """Sort one source's batch into what to write, counting each item in `report`."""
    present = batch.kept_origins | _origins(batch)
    plan = _Plan(key=key, existing=existing, present=present, claimed=claimed)
    for rejection in batch.rejections:
        _reject(report, rejection)
    for candidate in batch.candidates:
        outcome = plan.add(candidate)
        if isinstance(outcome, Rejection):
            _reject(report, outcome)
        elif outcome is not None:
            report.count(outcome)
    report.unchanged += batch.unchanged
    return SourceChanges(
        new=plan.new,
        changed=plan.changed,
        touched=plan.touched,
        state=batch.state if batch.error is None else None,
        archive_before=archive_before,
    )


@dataclass(kw_only=True)
class _Plan:
    """Sorts one batch's candidates into new, changed and merely touched, refusing id clashes."""

    key: str
    existing: dict[str, Existing]
    present: set[str]
    new: list[StoredArticle] = field(default_factory=list)
    changed: list[StoredArticle] = field(default_factory=list)
    touched: list[tuple[str, str, str]] = field(default_factory=list)
    claimed: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, candidate: Candidate) -> Outcome | Rejection | None:
        article, origin = candidate.article, candidate.origin
        clash = self._clash(article.id, origin)
        if clash:
            return Rejection(where=origin, reason=f"id {article.id!r} is already used by {clash}")
        self.claimed[article.id] = (self.key, origin)
        old = self.existing.get(article.id)
        if candidate.dateless and old is not None:
            # Dated when first seen: keep that date, or every gather would move it.
            article = replace(article, published=old.published, updated=old.updated)
        stored = StoredArticle(
            article=article,
            source=self.key,
            origin=origin,
            fingerprint=candidate.fingerprint,
            content_hash=content_hash(article),
        )
        if old is None:
            if article.draft:
                return None  # a draft never published: nothing to store or count
            self.new.append(stored)
            return Outcome.NEW
        if old.content_hash != stored.content_hash:
            self.changed.append(stored)
            return Outcome.UPDATED
        if (old.origin, old.fingerprint) != (origin, candidate.fingerprint):
            self.touched.append((article.id, origin, candidate.fingerprint))
        return Outcome.UNCHANGED

    def _clash(self, article_id: str, origin: str) -> str | None:
        if article_id in self.claimed:
            source, where = self.claimed[article_id]
            return where if source == self.key else f"{where} (another source)"
        old = self.existing.get(article_id)
        if old is None:
            return None
        if old.source != self.key:
            return f"{old.origin} (another source)"
        if old.origin != origin and old.origin in self.present:
            return old.origin
        return None


def content_hash(article: Article) -> str:
    """A digest of everything stored about an article, to tell an edit from a re-read."""
    fields = {f.name: getattr(article, f.name) for f in dataclass_fields(article)}
    if not fields["language"]:  # the site's: hashed as before languages were stored
        del fields["language"]
    for key in ("published", "updated"):
        fields[key] = fields[key].astimezone(UTC).isoformat()
    data = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def _origins(batch: Batch) -> set[str]:
    return {candidate.origin for candidate in batch.candidates}


def _reject(report: SectionReport, rejection: Rejection) -> None:
    report.rejected += 1
    report.errors.append({"where": rejection.where, "reason": rejection.reason})
    log.warning("rejected %s: %s", rejection.where, rejection.reason)


def _record_error(report: SectionReport, where: str, reason: str) -> None:
    report.errors.append({"where": where, "reason": reason})
    log.error("source failed %s: %s", where, reason)
