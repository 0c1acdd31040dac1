"""Typed records that cross stage boundaries. No I/O here."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple


class SourceType(StrEnum):
    """The built-in kinds of content source."""

    MARKDOWN = "markdown"
    FEED = "feed"
    WORDPRESS = "wordpress"


class Outcome(StrEnum):
    """What gathering did with one item."""

    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True, kw_only=True)
class Article:
    """One article as every stage sees it; `id` is the feed GUID and never changes."""

    id: str
    url: str
    title: str
    summary: str
    content: str
    section: str
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    published: datetime
    updated: datetime
    image: str | None = None
    image_alt: str | None = None
    draft: bool = False
    language: str = ""  # a BCP 47 tag such as "es" or "pt-BR"; "": the site's language


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """An article a source produced, with where it came from and how to tell it changed.

    `fingerprint` is cheap source metadata (file mtime and size) that lets the next
    gather skip the item without reading it; `origin` names the file or URL in messages.
    `dateless`: the item had no date, so the article is dated when it was first seen (the
    stored date is kept on later gathers).
    """

    article: Article
    origin: str
    fingerprint: str = ""
    dateless: bool = False


@dataclass(frozen=True, kw_only=True)
class Rejection:
    """An item a source refused, named by file or URL, with the reason."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(kw_only=True)
class SectionReport:
    """Counts of one section's gather, plus the rejections and source errors behind them."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    not_modified: list[str] = field(default_factory=list)

    def count(self, outcome: Outcome) -> None:
        """Add one item with the given outcome."""
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    def add(self, other: SectionReport) -> None:
        """Add another report's counts, errors and not-modified sources to this one."""
        for outcome in Outcome:
            setattr(
                self, outcome.value, getattr(self, outcome.value) + getattr(other, outcome.value)
            )
        self.errors += other.errors
        self.not_modified += other.not_modified

    @property
    def changed(self) -> bool:
        """True when this gather added or changed an article."""
        return bool(self.new or self.updated)

    def counts(self) -> dict[str, int]:
        """The four counts, as printed by `publisher gather --json`."""
        return {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


class SubscriberStatus(StrEnum):
    """Where a subscriber stands; only confirmed subscribers are mailed."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class Frequency(StrEnum):
    """How often a subscriber wants the digest."""

    DAILY = "daily"
    WEEKLY = "weekly"


class EditionKind(StrEnum):
    """What started an edition."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MANUAL = "manual"


@dataclass(frozen=True, kw_only=True)
class Subscriber:
    """A person on the list. `secret` keys their signed links; `since` bounds what they get."""

    id: int
    email: str
    name: str
    status: SubscriberStatus
    sections: tuple[str, ...]
    frequency: Frequency
    secret: str
    created_at: datetime
    confirmed_at: datetime | None = None
    timezone: str | None = None  # IANA name; None: the site's zone
    hour: int | None = None  # local delivery hour; None: digest.hour
    languages: tuple[str, ...] = ()  # the languages they read; (): every language

    @property
    def since(self) -> datetime:
        """Articles that appeared before this moment are not sent to this subscriber."""
        return self.confirmed_at or self.created_at


class DeliveryState(StrEnum):
    """Where one subscriber's message of an edition stands."""

    QUEUED = "queued"  # planned, not tried yet
    SENDING = "sending"  # claimed by a sender, under a lease
    SENT = "sent"  # the server accepted it
    DEFERRED = "deferred"  # a temporary failure: tried again at next_attempt_at
    FAILED = "failed"  # gave up after the last attempt
    BOUNCED = "bounced"  # refused for good (5xx): the subscriber is suppressed
    SUPPRESSED = "suppressed"  # not sent: the subscriber left or was suppressed meanwhile

    @property
    def carries(self) -> bool:
        """True when the subscriber has (or will have) this message's articles: planning
        never gives them those articles again."""
        return self in _CARRIES


_CARRIES = frozenset(
    {DeliveryState.QUEUED, DeliveryState.SENDING, DeliveryState.SENT, DeliveryState.DEFERRED}
)


class EditionStatus(StrEnum):
    """Where an edition's sending stands."""

    PLANNED = "planned"
    SENDING = "sending"
    PAUSED = "paused"  # too many errors: a later send resumes it
    HELD = "held"  # an automatic send waiting for an editor
    CANCELLED = "cancelled"
    DONE = "done"


@dataclass(frozen=True, kw_only=True)
class EditionRecord:
    """What planning an edition writes: its variants (fingerprint → article ids) and one
    (subscriber id, variant fingerprint, Message-ID) per recipient."""

    variants: dict[str, list[str]]
    recipients: list[tuple[int, str, str]]
    skipped: int = 0
    # A local-morning slot: every reader it was planned for (those with nothing new too) is
    # marked as served for this local date, in the same transaction.
    served: tuple[int, ...] = ()
    local_date: str = ""
    languages: dict[str, str] = field(default_factory=dict)  # fingerprint → words' language


@dataclass(frozen=True, kw_only=True)
class PlannedEdition:
    """An edition as recorded: how many variants and deliveries, and whether this call
    planned it (False: it was planned before, and is returned as it was)."""

    edition: Edition
    variants: int
    deliveries: int
    skipped: int
    created: bool

    def as_json(self) -> dict[str, Any]:
        """The object `publisher editions plan --json` prints."""
        return {
            "edition": self.edition.key,
            "created": self.created,
            "variants": self.variants,
            "deliveries": self.deliveries,
            "skipped": self.skipped,
        }


@dataclass(frozen=True, kw_only=True)
class EditionProgress:
    """An edition's status and its deliveries counted by state."""

    edition: Edition
    status: EditionStatus
    reason: str
    created_at: datetime
    recipients: int
    skipped: int
    states: dict[DeliveryState, int]

    def as_json(self) -> dict[str, Any]:
        """The object `publisher editions list --json` prints for one edition."""
        return {
            "key": self.edition.key,
            "kind": self.edition.kind.value,
            "status": self.status.value,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "recipients": self.recipients,
            "skipped": self.skipped,
            "deliveries": {state.value: count for state, count in self.states.items()},
        }


@dataclass(frozen=True, kw_only=True)
class Edition:
    """One digest run, identified by a unique key such as `daily:2026-11-28`."""

    key: str
    kind: EditionKind
    cutoff: datetime
    id: int | None = None


@dataclass(frozen=True, kw_only=True)
class SourceState:
    """Where a source left off: HTTP validators, a cursor, and how many items it held.
    `saved`: read back from the store (the source was gathered before)."""

    key: str
    etag: str | None = None
    last_modified: str | None = None
    cursor: str | None = None
    item_count: int = 0
    saved: bool = False


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
        not_modified = [
            {"section": slug, "source": key}
            for slug, report in self.sections.items()
            for key in report.not_modified
        ]
        return {
            "sections": {slug: report.counts() for slug, report in self.sections.items()},
            "errors": errors,
            "not_modified": not_modified,
        }


@dataclass(kw_only=True)
class FeedsReport:
    """What one feeds run did: files written, files left as they were, hub announcements."""

    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)
    announced: int = 0
    announce_failed: int = 0

    def as_json(self) -> dict[str, Any]:
        """The object `publisher feeds --json` prints."""
        return {
            "written": self.written,
            "unchanged": self.unchanged,
            "files": len(self.written) + self.unchanged,
            "failed": self.failed,
            "websub": {"announced": self.announced, "failed": self.announce_failed},
        }


@dataclass(kw_only=True)
class BuildReport:
    """What building an edition's messages produced (nothing is sent or recorded)."""

    edition: str
    subscribers: int = 0
    messages: int = 0
    variants: int = 0
    skipped: int = 0
    bytes: int = 0
    premailer_runs: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # by step: prepare, build
    fingerprints: set[str] = field(default_factory=set, repr=False)  # the variants built

    def add(self, share: BuildReport) -> None:
        """Count in what another worker built for the same edition (its seconds: the
        slowest worker's)."""
        self.subscribers += share.subscribers
        self.messages += share.messages
        self.skipped += share.skipped
        self.bytes += share.bytes
        self.premailer_runs += share.premailer_runs
        self.fingerprints |= share.fingerprints
        self.variants = len(self.fingerprints)
        for step, seconds in share.seconds.items():
            self.seconds[step] = max(self.seconds.get(step, 0.0), seconds)

    def as_json(self) -> dict[str, object]:
        """The object `publisher send --dry-run --json` prints."""
        return {
            "edition": self.edition,
            "dry_run": True,
            "subscribers": self.subscribers,
            "messages": self.messages,
            "variants": self.variants,
            "skipped": self.skipped,
            "bytes": self.bytes,
            "premailer_runs": self.premailer_runs,
            "seconds": {step: round(value, 3) for step, value in self.seconds.items()},
        }


class Link(NamedTuple):
    """A related link under an article in a digest (a named tuple: it is hashed, with the
    article's id, for every article of every variant, and a tuple hashes in C)."""

    title: str
    url: str


# The related links of each of these articles in a digest holding these article ids (never
# one of them). The same links come back as the same tuple object: blocks are cached by it.
RelatedLookup = Callable[[Sequence[str], frozenset[str]], list[Sequence[Link]]]
# A lookup for an edition whose digests draw their articles from these ids.
RelatedSource = Callable[[Collection[str]], RelatedLookup]


@dataclass(frozen=True, kw_only=True)
class Claimed:
    """A delivery row a sender has claimed (under a lease) and must now send and record."""

    id: int
    edition_id: int
    subscriber_id: int
    variant_id: int
    message_id: str
    attempts: int  # this one included


@dataclass(frozen=True, kw_only=True)
class Result:
    """What became of one claimed row."""

    id: int
    state: DeliveryState
    error: str = ""
    retry_at: datetime | None = None
    subscriber_id: int | None = None  # set for a bounce: the subscriber is suppressed
