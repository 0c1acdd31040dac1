"""An edition's messages: plan who gets which variant, render each variant once, assemble bytes."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr

from publisher.digest.editions import lookback
from publisher.digest.i18n import catalog_languages, translations
from publisher.digest.message import (
    Envelope,
    PreparedVariant,
    Recipient,
    message_id,
    personalise,
)
from publisher.digest.plan import EditionPlan, Planner, latest_plan, planner
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
        self.renderer = Renderer(settings, tokens=self.tokens)
        self._renderers: dict[str, Renderer] = {"": self.renderer}
        self._related = related
        self._render: tuple[EditionPlan, dict[str, EditionRender]] | None = None
        # The languages the digest's own words come in: English, and each catalog's.
        self.words = frozenset(["en", *catalog_languages()])
        sender = parseaddr(settings.digest.sender)[1]
        self.domain = sender.rsplit("@", 1)[-1]

    def audience(
        self, edition: Edition, shard: tuple[int, int] | None = None
    ) -> Iterator[Subscriber]:
        """The confirmed subscribers an edition is for (those of one shard: `(k, n)`)."""
        frequency = {EditionKind.DAILY: Frequency.DAILY, EditionKind.WEEKLY: Frequency.WEEKLY}
        return self.subscribers.iter(
            status=SubscriberStatus.CONFIRMED, frequency=frequency.get(edition.kind), shard=shard
        )

    def plan(self, edition: Edition, subscribers: Iterable[Subscriber]) -> EditionPlan:
        """Who gets which variant of the edition."""
        return self.planner(edition).plan(subscribers)

    def planner(self, edition: Edition, readers: Collection[int] | None = None) -> Planner:
        """What planning the edition needs, read once (see Planner); `readers`: only these
        subscribers will be planned."""
        digest = self.settings.digest
        return planner(
            self.editions,
            edition,
            section_order=[section.slug for section in self.settings.sections],
            cap=digest.max_per_section,
            limit=digest.max_articles,
            lookback=lookback(edition.kind, digest.lookback_days),
            grace=timedelta(hours=digest.first_digest_hours),
            readers=readers,
            site_language=self.settings.site.language,
            words=self.words,
        )

    def latest(self, edition: Edition, subscriber: Subscriber, count: int) -> EditionPlan:
        """The `count` newest published articles of the subscriber's sections as one digest,
        whatever they were sent before (for a demo or a design check)."""
        newest = self.store.articles.newest(limit=count * 20, published_by=edition.cutoff)
        order = [section.slug for section in self.settings.sections]
        return latest_plan(edition, subscriber, newest, section_order=order, count=count)

    def record(
        self,
        edition: Edition,
        *,
        now: datetime,
        audience: Callable[[], Iterable[Subscriber]] | None = None,
        local_date: str = "",
    ) -> PlannedEdition:
        """Plan the edition into the database once (the edition, its variants, a queued
        delivery per recipient; see EditionStore.record); an edition planned before is
        returned as it was. `audience`: the readers, read under the planning lock (default:
        every confirmed reader of its frequency); with `local_date`, each of them is marked
        served for that local date in the same transaction."""

        def planned() -> EditionRecord:
            if audience is None:
                readers = list(self.audience(edition))
                plan = self.plan(edition, readers)
            else:
                readers = list(audience())
                plan = self.planner(edition, {r.id for r in readers}).plan(readers)
            return EditionRecord(
                variants={fp: variant.ids for fp, variant in plan.variants.items()},
                recipients=[
                    (subscriber.id, fp, message_id(edition.key, subscriber.id, self.domain))
                    for subscriber, fp in plan.recipients
                ],
                skipped=plan.skipped,
                served=tuple(reader.id for reader in readers) if local_date else (),
                local_date=local_date,
                languages={fp: v.language for fp, v in plan.variants.items() if v.language},
            )

        return self.editions.record(edition, planned, now=now)

    def messages(
        self,
        plan: EditionPlan,
        fingerprints: Iterable[str] | None = None,
        render: EditionRender | None = None,
        keys: dict[str, list[int]] | None = None,
    ) -> Iterator[BuiltMessage]:
        """The planned messages (of some variants), variant by variant: each variant joined
        from the edition's blocks, then each subscriber's bytes assembled from it (`keys`:
        the variants' block keys, from `EditionRender.warm`)."""
        keys = keys or {}
        envelope = self.envelope(plan.edition)
        by_variant: dict[str, list[Subscriber]] = {}
        for subscriber, fingerprint in plan.recipients:
            by_variant.setdefault(fingerprint, []).append(subscriber)
        for fingerprint in by_variant if fingerprints is None else fingerprints:
            variant = plan.variants[fingerprint]
            if variant.language or render is None:  # a language of its own: its own render
                encoded = self.edition_render(plan, variant.language).encoded(variant)
            else:
                encoded = render.encoded(variant, keys.get(fingerprint))
            prepared = PreparedVariant(encoded, envelope)
            for subscriber in by_variant.get(fingerprint, ()):
                recipient = self.recipient(subscriber, plan.edition, variant.language)
                yield BuiltMessage(
                    subscriber=subscriber,
                    variant=fingerprint,
                    message_id=recipient.message_id,
                    data=prepared.message(recipient),
                )

    def edition_render(self, plan: EditionPlan, language: str = "") -> EditionRender:
        """The renderer of the plan's edition in a language (default: the site's), its
        blocks cached while the plan is in use."""
        if self._render is None or self._render[0] is not plan:
            self._render = (plan, {})
        renders = self._render[1]
        if language not in renders:
            universe = {article.id for v in plan.variants.values() for article in v.articles}
            related = self.related(universe)
            renders[language] = self.renderer_for(language).edition(plan.edition, related)
        return renders[language]

    def renderer_for(self, language: str) -> Renderer:
        """The renderer of the digest in `language` ("": the site's), made once."""
        if language not in self._renderers:
            self._renderers[language] = Renderer(self.settings, language, self.tokens)
        return self._renderers[language]

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

    def recipient(self, subscriber: Subscriber, edition: Edition, language: str = "") -> Recipient:
        """One subscriber's values: greeting (in the digest's `language`), signed links,
        Message-ID."""
        words = translations(language or self.settings.site.language)
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
            greeting=(
                words.gettext("Hello %(name)s,") % {"name": subscriber.name}
                if subscriber.name
                else words.gettext("Hello,")
            ),
            unsubscribe_url=unsubscribe_url,
            preferences_url=f"{base}/preferences/{preferences}",
            message_id=message_id(edition.key, subscriber.id, self.domain),
            list_unsubscribe=list_unsubscribe,
        )

    def archived(self, edition: Edition, article_ids: Iterable[str]) -> EditionPlan:
        """An edition as the web archive shows it: every article it carried, in section
        order, for a reader of every section."""
        found = self.store.articles.by_ids(article_ids)
        articles = sorted((a for a, _, _ in found.values()), key=lambda a: a.published)
        every = [section.slug for section in self.settings.sections]
        reader = preview_subscriber(every, edition.cutoff)
        return latest_plan(
            edition, reader, reversed(articles), section_order=every, count=len(articles)
        )

    def web_page(self, plan: EditionPlan, recipient: Recipient | None = None) -> str:
        """The HTML part of the plan's first message as a browser shows it; without a
        recipient, with no reader's data: the footer's links lead to the sign-up page."""
        _, fingerprint = plan.recipients[0]
        rendered = self.edition_render(plan).rendered(plan.variants[fingerprint])
        return personalise(rendered, recipient or self.anonymous(plan.edition), part="html")

    def anonymous(self, edition: Edition) -> Recipient:
        """The values of a reader nobody knows: for pages anyone may open."""
        signup = f"{self.settings.public_url}/subscribe"
        return Recipient(
            name="",
            email="",
            greeting="Hello,",
            unsubscribe_url=signup,
            preferences_url=signup,
            message_id=message_id(edition.key, 0, self.domain),
            list_unsubscribe=f"<{signup}>",
        )

    def dry_run(self, edition: Edition, shard: tuple[int, int] = (0, 1)) -> BuildReport:
        """Build every message of the edition (for one shard of its subscribers: `(k, n)`)
        to its final bytes; send and record nothing.

        The fresh articles, what was sent, and the page and each article's usual block are
        read and rendered once; then the subscribers are planned and their messages built,
        a chunk of variants at a time."""
        report = BuildReport(edition=edition.key)
        clock = time.perf_counter()
        runs = self.renderer.premailer_runs
        planner = self.planner(edition)
        render = self.renderer.edition(edition, self.related([a.id for a in planner.articles]))
        render.warm_base(planner.articles)
        report.seconds["prepare"], clock = time.perf_counter() - clock, time.perf_counter()
        audience = list(self.audience(edition, shard=shard))
        plan = planner.plan(audience)
        gc.freeze()  # the plan lives until the end: the collector need not walk it again
        try:
            order = list(plan.variants)
            for start in range(0, len(order), _CHUNK):
                chunk = order[start : start + _CHUNK]
                keys = render.warm(plan.variants[fp] for fp in chunk)
                for built in self.messages(plan, chunk, render, keys):
                    report.messages += 1
                    report.bytes += len(built.data)
        finally:
            gc.unfreeze()
        report.subscribers = len(audience)
        report.skipped = plan.skipped
        report.fingerprints = set(order)
        report.variants = len(order)
        report.premailer_runs = self.renderer.premailer_runs - runs
        report.seconds["build"] = time.perf_counter() - clock
        return report


_CHUNK = 4000  # variants whose missing blocks are inlined together


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
