"""Editions: their keys, their lookback, and the identity of a variant."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo

from publisher.models import Edition, EditionKind


def edition_key(kind: EditionKind, moment: datetime, zone: tzinfo) -> str:
    """`daily:2026-11-28`, `weekly:2026-W48` or `manual:2026-11-28T14:05:09`, in the site's zone."""
    local = moment.astimezone(zone)
    if kind is EditionKind.DAILY:
        return f"daily:{local:%Y-%m-%d}"
    if kind is EditionKind.WEEKLY:
        year, week, _ = local.isocalendar()
        return f"weekly:{year}-W{week:02d}"
    return f"manual:{local:%Y-%m-%dT%H:%M:%S}"


def new_edition(kind: EditionKind, now: datetime, zone: tzinfo) -> Edition:
    """An edition of this kind for `now` (not stored yet)."""
    return Edition(key=edition_key(kind, now, zone), kind=kind, cutoff=now)


def variant_fingerprint(article_ids: Iterable[str], language: str = "") -> str:
    """The identity of a variant: its articles, in order, and the language of its words
    (the site's is left out, so those fingerprints are as they always were)."""
    head = [f"language:{language}"] if language else []
    return hashlib.sha256("\x1f".join([*head, *article_ids]).encode()).hexdigest()


def lookback(kind: EditionKind, days: int) -> timedelta:
    """How far back an edition looks for articles a subscriber has not had (a week and a day
    at least for a weekly one)."""
    return timedelta(days=max(days, 8) if kind is EditionKind.WEEKLY else days)
