"""Turning loosely typed source fields into the values an Article needs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from urllib.parse import urljoin

from publisher.errors import ItemRejected
from publisher.sanitize import collapse, plain_text, strip_forbidden
from publisher.uris import has_scheme, replacement_id, valid_uri_id, web_uri

SUMMARY_CHARS = 300
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def parse_date(value: Any, *, zone: tzinfo, where: str, key: str) -> datetime:
    """A timezone-aware datetime from a datetime, date or ISO 8601 string; no zone means `zone`."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ItemRejected(
                where, f"{key}: cannot parse {value!r} as an ISO 8601 date"
            ) from None
    else:
        raise ItemRejected(where, f"{key}: expected an ISO 8601 date, got {value!r}")
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def utc_from_struct(value: Any) -> datetime | None:
    """A UTC datetime from feedparser's `*_parsed` struct_time, or None."""
    if not value:
        return None
    return datetime(*value[:6], tzinfo=UTC)


def required_text(value: Any, *, where: str, key: str, markup: bool = True) -> str:
    """A non-empty single-line plain-text string, or a rejection naming the key.

    With `markup` the value is HTML and reduced to its text; emptiness is judged after that,
    so a value of only markup or only whitespace entities is missing too."""
    text = text_of(value, where=where, key=key, markup=markup)
    if not text:
        empty = value is None or not str(value).strip()
        detail = "required field is missing or empty" if empty else "empty once markup is removed"
        raise ItemRejected(where, f"{key}: {detail}")
    return text


def text_of(value: Any, *, where: str, key: str, markup: bool = True) -> str:
    """Plain text of a field ("" when absent): HTML reduced to its text with `markup`,
    else kept as written (entities are not decoded twice)."""
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise ItemRejected(where, f"{key}: expected text, got {type(value).__name__}")
    return plain_text(str(value)) if markup else collapse(str(value))


def title_from(text: str, *, words: int = 12, chars: int = 90) -> str:
    """A title made of the first words of a text (for items that have none)."""
    picked = text.split()[:words]
    title = " ".join(picked)
    if len(title) > chars:
        title = title[:chars].rsplit(" ", 1)[0]
    if title != " ".join(text.split()):
        title = title.rstrip(",;:.") + "…"
    return title


def optional_text(value: Any) -> str | None:
    """Plain text or None for an absent or empty value."""
    if value is None:
        return None
    text = plain_text(str(value))
    return text or None


def text_list(value: Any, *, where: str, key: str) -> tuple[str, ...]:
    """A list of names from a list or a comma-separated string, duplicates dropped."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Iterable) or isinstance(value, dict):
        raise ItemRejected(where, f"{key}: expected a list, got {type(value).__name__}")
    names = (plain_text(str(item)) for item in value if item is not None)
    return tuple(dict.fromkeys(name for name in names if name))


def slug(value: Any, *, where: str) -> str:
    """A URL slug: lowercase letters, digits and hyphens."""
    text = str(value).strip()
    if not _SLUG.match(text):
        raise ItemRejected(where, f"slug: {text!r} must be lowercase letters, digits and hyphens")
    return text


def absolute_url(value: Any, base: str) -> str | None:
    """An absolute http(s) URI resolved against `base` (an IRI is encoded), or None."""
    if not value or not isinstance(value, str):
        return None
    return web_uri(urljoin(base, strip_forbidden(value.strip())))


MAX_ID_CHARS = 1024  # the length of articles.id in the store


def article_id(raw: str, *, fallback: str, source: str, authority: str) -> str:
    """The id an upstream item is stored under: its own id when that is a plain name or a
    valid URI of its scheme (an http(s) IRI is encoded), else a stable tag: URI."""
    value = strip_forbidden(raw).strip()
    if not value:
        return fallback
    if len(value) > MAX_ID_CHARS:  # longer than the store's column holds (PostgreSQL refuses)
        return replacement_id(authority, source, value)
    if not has_scheme(value):
        return value
    scheme = value.split(":", 1)[0].lower()
    if scheme in {"http", "https"} and (uri := web_uri(value)) is not None:
        return uri
    return value if valid_uri_id(value) else replacement_id(authority, source, value)


def summary_from(text: str) -> str:
    """A summary cut at a word boundary from an article's plain text."""
    if len(text) <= SUMMARY_CHARS:
        return text
    cut = text[:SUMMARY_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.") + "…"


def check_size(size: int, *, limit: int, where: str) -> None:
    """Reject an item of `size` bytes over the limit, saying by how much."""
    if size > limit:
        raise ItemRejected(
            where,
            f"{size:,} bytes ({size / 1e6:.1f} MB), over the limit of {limit / 1e6:.1f} MB "
            "(gather.max_article_bytes)",
        )
