"""An edition's messages: plan who gets which variant, render each variant once, assemble bytes."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr

from publisher.digest.editions import lookback
from publisher.digest.message import Envelope, PreparedVariant, Recipient, message_id
from publisher.digest.plan import EditionPlan, latest_plan, plan_edition
from publisher.digest.render import EditionRender, Renderer, no_related
from publisher.models import (
    BuildReport,
    Edition,
    EditionKind,
    EditionRecord,
    Frequency,
    PlannedEdition,
    RelatedLookup,
    RelatedSource,
    Subscriber,
    SubscriberStatus,
)
from publisher.settings import Settings, secret_key
from publisher.store import Store
from publisher.subscribers.tokens import Purpose, Tokens


@dataclass(frozen=True, kw_only=True)
class BuiltMessage:
    """One subscriber's message of an edition."""

    subscriber: Subscriber
    variant: str
    message_id: str
    data: bytes


class Mailer:
    """Builds the messages of editions for one configuration.

    `related` gives the related links of a digest's articles (never one of the digest's own);
    without it, digests carry no related links."""

    def __init__(
        self, settings: Settings, store: Store, related: RelatedSource | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.editions = store.editions
        self.subscribers = store.subscribers
        self.tokens = Tokens(secret_key(settings))
        self.renderer = Renderer(settings)
        self._related = related
        self._render: tuple[EditionPlan, EditionRender] | None = None
        sender = parseaddr(settings.digest.sender)[1]
        self.domain = sender.rsplit("@", 1)[-1]

    def audience(self, edition: Edition) -> Iterator[Subscriber]:
        """The confirmed subscribers an edition is for."""
        frequency = {EditionKind.DAILY: Frequency.DAILY, EditionKind.WEEKLY: Frequency.WEEKLY}
        return self.subscribers.iter(
            status=SubscriberStatus.CONFIRMED, frequency=frequency.get(edition.kind)
        )

    def plan(self, edition: Edition, subscribers: Iterable[Subscriber]) -> EditionPlan:
        """Who gets which variant of the edition."""
        digest = self.settings.digest
        return plan_edition(
            self.editions,
            subscribers,
            edition,
            section_order=[section.slug for section in self.settings.sections],
            cap=digest.max_per_section,
            limit=digest.max_articles,
            lookback=lookback(edition.kind, digest.lookback_days),
            grace=timedelta(hours=digest.first_digest_hours),
        )

    def latest(self, edition: Edition, subscriber: Subscriber, count: int) -> EditionPlan:
        """The `count` newest published articles of the subscriber's sections as one digest,
        whatever they were sent before (for a demo or a design check)."""
        newest = self.store.articles.newest(limit=count * 20, published_by=edition.cutoff)
        order = [section.slug for section in self.settings.sections]
        return latest_plan(edition, subscriber, newest, section_order=order, count=count)

    def record(self, edition: Edition, *, now: datetime) -> PlannedEdition:
        """Plan the edition into the database once (the edition, its variants, a queued
        delivery per recipient; see EditionStore.record); an edition planned before is
        returned as it was."""

        def planned() -> EditionRecord:
            plan = self.plan(edition, self.audience(edition))
            return EditionRecord(
                variants={fp: variant.ids for fp, variant in plan.variants.items()},
                recipients=[
                    (subscriber.id, fp, message_id(edition.key, subscriber.id, self.domain))
                    for subscriber, fp in plan.recipients
                ],
                skipped=plan.skipped,
            )

        return self.editions.record(edition, planned, now=now)

    def messages(
        self, plan: EditionPlan, fingerprints: Iterable[str] | None = None
    ) -> Iterator[BuiltMessage]:
        """The planned messages (of some variants), variant by variant: each variant joined
        from the edition's blocks, then each subscriber's bytes assembled from it."""
        render = self.edition_render(plan)
        envelope = self.envelope(plan.edition)
        by_variant: dict[str, list[Subscriber]] = {}
        for subscriber, fingerprint in plan.recipients:
            by_variant.setdefault(fingerprint, []).append(subscriber)
        for fingerprint in by_variant if fingerprints is None else fingerprints:
            prepared = PreparedVariant(render.encoded(plan.variants[fingerprint]), envelope)
            for subscriber in by_variant.get(fingerprint, ()):
                recipient = self.recipient(subscriber, plan.edition)
                yield BuiltMessage(
                    subscriber=subscriber,
                    variant=fingerprint,
                    message_id=recipient.message_id,
                    data=prepared.message(recipient),
                )

    def edition_render(self, plan: EditionPlan) -> EditionRender:
        """The renderer of the plan's edition, its blocks cached while the plan is in use."""
        if self._render is None or self._render[0] is not plan:
            universe = {article.id for v in plan.variants.values() for article in v.articles}
            self._render = (plan, self.renderer.edition(plan.edition, self.related(universe)))
        return self._render[1]

    def envelope(self, edition: Edition) -> Envelope:
        """The headers every message of the edition shares."""
        return Envelope(
            sender=self.settings.digest.sender,
            list_id=f"{self.settings.site.name} digest <digest.{self.domain}>",
            date=edition.cutoff,
        )

    def related(self, universe: Collection[str]) -> RelatedLookup:
        """The related-links lookup for digests drawn from `universe` (none when the settings
        ask for no related links)."""
        if not self.settings.digest.related_links or self._related is None:
            return no_related
        return self._related(universe)

    def recipient(self, subscriber: Subscriber, edition: Edition) -> Recipient:
        """One subscriber's values: greeting, signed links, Message-ID."""
        base = self.settings.public_url
        unsubscribe = self.tokens.make(subscriber, Purpose.UNSUBSCRIBE)
        unsubscribe_url = f"{base}/unsubscribe/{unsubscribe}"
        list_unsubscribe = f"<{unsubscribe_url}>"
        if self.settings.digest.unsubscribe_mailto:
            mailto = self.settings.digest.unsubscribe_mailto
            list_unsubscribe += f", <mailto:{mailto}?subject=unsubscribe%20{unsubscribe}>"
        preferences = self.tokens.make(subscriber, Purpose.PREFERENCES)
        return Recipient(
            name=subscriber.name,
            email=subscriber.email,
            greeting=f"Hello {subscriber.name}," if subscriber.name else "Hello,",
            unsubscribe_url=unsubscribe_url,
            preferences_url=f"{base}/preferences/{preferences}",
            message_id=message_id(edition.key, subscriber.id, self.domain),
            list_unsubscribe=list_unsubscribe,
        )

    def dry_run(self, edition: Edition, *, workers: int = 0) -> BuildReport:
        """Build every message of the edition to its final bytes, in parallel; record nothing."""
        report = BuildReport(edition=edition.key)
        audience = list(self.audience(edition))
        plan = self.plan(edition, audience)
        render = self.edition_render(plan)
        before = self.renderer.premailer_runs
        render.warm(plan.variants.values())  # every block inlined once, before the fork
        report.premailer_runs = self.renderer.premailer_runs - before
        workers = workers or self.settings.digest.workers or os.cpu_count() or 1
        for messages, size, runs in _build_groups(self, plan, _partition(plan, workers)):
            report.messages += messages
            report.bytes += size
            report.premailer_runs += runs
        report.subscribers = len(audience)
        report.variants = len(plan.variants)
        report.skipped = plan.skipped
        return report

    def count(self, plan: EditionPlan, group: list[str]) -> tuple[int, int, int]:
        """(messages, bytes, premailer runs) of building the variants in `group`."""
        runs = self.renderer.premailer_runs
        messages = size = 0
        for built in self.messages(plan, group):
            messages += 1
            size += len(built.data)
        return messages, size, self.renderer.premailer_runs - runs


# Set just before the worker processes fork, so that each inherits it instead of pickling it.
_JOB: tuple[Mailer, EditionPlan, list[list[str]]] | None = None


def _build_groups(
    mailer: Mailer, plan: EditionPlan, groups: list[list[str]]
) -> list[tuple[int, int, int]]:
    if len(groups) <= 1:
        return [mailer.count(plan, group) for group in groups]
    global _JOB
    _JOB = (mailer, plan, groups)
    try:
        with multiprocessing.get_context("fork").Pool(len(groups)) as pool:
            return pool.map(_build_group, range(len(groups)))
    finally:
        _JOB = None


def _build_group(index: int) -> tuple[int, int, int]:
    assert _JOB is not None
    mailer, plan, groups = _JOB
    mailer.store.db.engine.dispose(close=False)  # never share the parent's connections
    return mailer.count(plan, groups[index])


def _partition(plan: EditionPlan, workers: int) -> list[list[str]]:
    """Variants split into at most `workers` groups of about equal work (join + messages)."""
    recipients: dict[str, int] = {}
    for _, fingerprint in plan.recipients:
        recipients[fingerprint] = recipients.get(fingerprint, 0) + 1
    cost = {fp: 1 + recipients.get(fp, 0) for fp in plan.variants}
    groups: list[list[str]] = [[] for _ in range(max(1, min(workers, len(cost))))]
    loads = [0.0] * len(groups)
    for fingerprint in sorted(cost, key=lambda fp: (-cost[fp], fp)):
        lightest = loads.index(min(loads))
        groups[lightest].append(fingerprint)
        loads[lightest] += cost[fingerprint]
    return [group for group in groups if group]


def preview_subscriber(sections: Sequence[str], now: datetime) -> Subscriber:
    """A stand-in subscriber for previewing sections: no history, never mailed."""
    return Subscriber(
        id=0,
        email="preview@example.invalid",
        name="Preview",
        status=SubscriberStatus.CONFIRMED,
        sections=tuple(sections),
        frequency=Frequency.DAILY,
        secret="preview",
        created_at=datetime(1970, 1, 1, tzinfo=now.tzinfo),
    )
