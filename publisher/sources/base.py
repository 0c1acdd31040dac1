"""The small protocol every content source implements, and what it hands back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from publisher.errors import SourceError
from publisher.models import Candidate, Rejection, SourceState
from publisher.settings import GatherSettings, SiteSettings


@dataclass(frozen=True, kw_only=True)
class Previous:
    """What the store remembers of a source: its saved state and each stored item's fingerprint."""

    state: SourceState
    fingerprints: Mapping[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class Batch:
    """One fetch's result.

    `unchanged` counts items known to be unchanged without reading them (same file
    fingerprint, HTTP 304); `kept_origins` names those that have an origin. `state` is
    saved only after the candidates are stored, so a crash in between fetches again.
    `error` is a source failure after partial progress. `not_modified`: the source said
    nothing changed (HTTP 304).
    """

    candidates: list[Candidate] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    unchanged: int = 0
    kept_origins: set[str] = field(default_factory=set)
    state: SourceState | None = None
    error: SourceError | None = None
    not_modified: bool = False
    first: bool = False  # the source's first gather (set by gathering, not by the source)


@dataclass(frozen=True, kw_only=True)
class SourceContext:
    """What every source is built with."""

    section: str
    sections: frozenset[str]
    site: SiteSettings
    gather: GatherSettings
    http: httpx.Client
    tag_authority: str  # for ids made for items whose own id is not a valid URI


class ContentSource(Protocol):
    """A place articles come from.

    `fetch` never raises for one bad item (it returns a Rejection); it raises
    `SourceError` when the whole source cannot be read (missing folder, HTTP error,
    not a feed, timeout before anything was read).
    """

    key: str
    host: (
        str  # the network host it reads from ("" for a local source): requests are limited per host
    )

    def fetch(self, previous: Previous) -> Batch:
        """Return the items that may have changed since `previous`."""
        ...
