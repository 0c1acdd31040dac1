"""Messages for claimed delivery rows: each row's variant joined from the edition's blocks once
(the rows of one variant come together), then the subscriber's bytes assembled from it.

What the edition needs (its variants, their articles, the page and blocks) is read once per
edition and kept while rows of that edition are claimed; a variant's prepared pieces are kept
for the next rows (a small cache: memory does not grow with the number of variants).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr

from publisher.digest.build import Mailer
from publisher.digest.message import HeaderError, PreparedVariant
from publisher.digest.plan import Variant
from publisher.digest.render import EditionRender
from publisher.errors import UserError
from publisher.models import Claimed, Edition, Subscriber, SubscriberStatus

_PREPARED = 64  # variants kept prepared


@dataclass(frozen=True, kw_only=True)
class Composed:
    """A claimed row's message, or why it has none (`skip`: suppressed; `error`: cannot be
    built, so it fails)."""

    row: Claimed
    recipient: str = ""
    data: bytes = b""
    skip: str = ""
    error: str = ""


class _EditionState:
    """One edition's variants and renderer, read once."""

    def __init__(self, mailer: Mailer, edition: Edition) -> None:
        store = mailer.store
        assert edition.id is not None
        stored = store.editions.variants_in_languages(edition.id)
        wanted = {i for _, ids, _ in stored.values() for i in ids}
        found = store.articles.by_ids(wanted)
        self.variants = {
            variant_id: Variant(
                fingerprint=fingerprint,
                articles=tuple(found[i][0] for i in ids if i in found),
                language=language,
            )
            for variant_id, (fingerprint, ids, language) in stored.items()
        }
        self.mailer = mailer
        self.related = mailer.related(wanted)
        self.renders: dict[str, EditionRender] = {}
        self.envelope = mailer.envelope(edition)
        self.edition = edition
        self.prepared: OrderedDict[int, PreparedVariant] = OrderedDict()

    def render(self, language: str) -> EditionRender:
        """The edition's render in a language ("": the site's), made once."""
        if language not in self.renders:
            renderer = self.mailer.renderer_for(language)
            self.renders[language] = renderer.edition(self.edition, self.related)
        return self.renders[language]


class Composer:
    """Builds the messages of claimed rows, for any edition."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self.sender = parseaddr(mailer.settings.digest.sender)[1]
        self._editions: dict[int, _EditionState] = {}

    def compose(self, rows: Sequence[Claimed]) -> list[Composed]:
        """A message for each row (rows of readers no longer confirmed are skipped)."""
        people = self.mailer.subscribers.by_ids(row.subscriber_id for row in rows)
        return [self._one(row, people.get(row.subscriber_id)) for row in rows]

    def _one(self, row: Claimed, subscriber: Subscriber | None) -> Composed:
        if subscriber is None:
            return Composed(row=row, skip="the subscriber was removed")
        if subscriber.status is not SubscriberStatus.CONFIRMED:
            return Composed(row=row, skip=f"the subscriber is {subscriber.status.value}")
        state = self._edition(row.edition_id)
        try:
            prepared = self._prepared(state, row.variant_id)
            language = state.variants[row.variant_id].language
            data = prepared.message(self.mailer.recipient(subscriber, state.edition, language))
        except HeaderError as exc:
            return Composed(row=row, error=str(exc))
        return Composed(row=row, recipient=subscriber.email, data=data)

    def _edition(self, edition_id: int) -> _EditionState:
        if edition_id not in self._editions:
            edition = self.mailer.store.editions.by_id(edition_id)
            if edition is None:
                raise UserError(f"edition {edition_id} is gone")
            if len(self._editions) >= 2:  # a worker serves one or two editions at a time
                self._editions.pop(next(iter(self._editions)))
            self._editions[edition_id] = _EditionState(self.mailer, edition)
        return self._editions[edition_id]

    def _prepared(self, state: _EditionState, variant_id: int) -> PreparedVariant:
        prepared = state.prepared.get(variant_id)
        if prepared is None:
            variant = state.variants[variant_id]
            prepared = PreparedVariant(
                state.render(variant.language).encoded(variant), state.envelope
            )
            state.prepared[variant_id] = prepared
            if len(state.prepared) > _PREPARED:
                state.prepared.popitem(last=False)
        else:
            state.prepared.move_to_end(variant_id)
        return prepared
