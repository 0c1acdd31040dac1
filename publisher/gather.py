"""Gathering: every source of every section fetched, compared with the store, saved atomically."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from typing import Any

from publisher.errors import SourceError
from publisher.models import Article, Candidate, Outcome, Rejection, SectionReport
from publisher.sources import Batch, ContentSource, Previous
from publisher.store import Existing, Store, StoredArticle

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class SectionSources:
    """A section's slug and the sources configured for it."""

    slug: str
    sources: tuple[ContentSource, ...]


@dataclass(kw_only=True)
class GatherReport:
    """The outcome of one gather, per section."""

    sections: dict[str, SectionReport] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """True when any section gained or changed an article."""
        return any(report.changed for report in self.sections.values())

    def as_json(self) -> dict[str, Any]:
        """The object `publisher gather --json` prints."""
        errors = [
            {"section": slug, **error}
            for slug, report in self.sections.items()
            for error in report.errors
        ]
        return {
            "sections": {slug: report.counts() for slug, report in self.sections.items()},
            "errors": errors,
        }


def gather(
    store: Store,
    sections: Iterable[SectionSources],
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_source: Callable[[str, str], None] = lambda section, key: None,
) -> GatherReport:
    """Gather every source of the given sections, one source at a time."""
    report = GatherReport()
    for section in sections:
        section_report = report.sections.setdefault(section.slug, SectionReport())
        for source in section.sources:
            on_source(section.slug, source.key)
            gather_source(store, source, section_report, now())
        log.info("gathered section=%s %s", section.slug, section_report.counts())
    return report


def gather_source(
    store: Store, source: ContentSource, report: SectionReport, now: datetime
) -> None:
    """Fetch one source and store what changed; a failing source is reported, never raised."""
    previous = Previous(
        state=store.source_state(source.key), fingerprints=store.fingerprints(source.key)
    )
    try:
        batch = source.fetch(previous)
    except SourceError as exc:
        _record_error(report, exc.where, exc.reason)
        return
    if batch.error:
        reason = f"{batch.error.reason}; stopped part-way, the rest is fetched next time"
        _record_error(report, batch.error.where, reason)
    _apply(store, source.key, batch, report, now)


def _apply(store: Store, key: str, batch: Batch, report: SectionReport, now: datetime) -> None:
    existing = store.existing(c.article.id for c in batch.candidates)
    plan = _Plan(key=key, existing=existing, present=batch.kept_origins | _origins(batch))
    for rejection in batch.rejections:
        _reject(report, rejection)
    for candidate in batch.candidates:
        outcome = plan.add(candidate)
        if isinstance(outcome, Rejection):
            _reject(report, outcome)
        elif outcome is not None:
            report.count(outcome)
    report.unchanged += batch.unchanged
    store.save_gathered(
        new=plan.new,
        changed=plan.changed,
        touched=plan.touched,
        state=batch.state if batch.error is None else None,
        now=now,
    )
    for item in plan.new:
        log.info("new article id=%s origin=%s", item.article.id, item.origin)
    for item in plan.changed:
        log.info("updated article id=%s origin=%s", item.article.id, item.origin)


@dataclass(kw_only=True)
class _Plan:
    """Sorts one batch's candidates into new, changed and merely touched, refusing id clashes."""

    key: str
    existing: dict[str, Existing]
    present: set[str]
    new: list[StoredArticle] = field(default_factory=list)
    changed: list[StoredArticle] = field(default_factory=list)
    touched: list[tuple[str, str, str]] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)

    def add(self, candidate: Candidate) -> Outcome | Rejection | None:
        article, origin = candidate.article, candidate.origin
        clash = self._clash(article.id, origin)
        if clash:
            return Rejection(where=origin, reason=f"id {article.id!r} is already used by {clash}")
        self.seen[article.id] = origin
        old = self.existing.get(article.id)
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
        if article_id in self.seen:
            return self.seen[article_id]
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
