"""Subscriber input: email validation, section choices, display names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from publisher.errors import UserError
from publisher.languages import language_tag
from publisher.models import Frequency, SubscriberStatus
from publisher.store.subscribers import NewSubscriber

_SECTION_SPLIT = re.compile(r"[,;]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalise_email(raw: str) -> str:
    """The address in canonical form; UserError saying why it is not a valid address."""
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise UserError(f"invalid email address {raw.strip()!r}: {exc}") from None
    # Mailbox names are case-insensitive in practice: one person, one subscription.
    return (checked.ascii_email or checked.normalized).lower()


def parse_sections(raw: str | Sequence[str], known: Sequence[str]) -> tuple[str, ...]:
    """Section slugs from "a,b" or "a;b" (empty: every section), each checked against `known`."""
    names = _SECTION_SPLIT.split(raw) if isinstance(raw, str) else list(raw)
    chosen = tuple(dict.fromkeys(name.strip() for name in names if name.strip()))
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise UserError(f"unknown section(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen or tuple(known)


def clean_name(raw: str) -> str:
    """A display name without control characters (no header or template injection by newline)."""
    return " ".join(_CONTROL.sub(" ", raw).split())[:200]


def new_subscriber(
    email: str,
    *,
    name: str = "",
    sections: str | Sequence[str] = "",
    known: Sequence[str],
    status: str | SubscriberStatus = SubscriberStatus.PENDING,
    frequency: str | Frequency = Frequency.DAILY,
    timezone: str | None = None,
    hour: str | int | None = None,
    languages: str | Sequence[str] = (),
) -> NewSubscriber:
    """A validated subscriber, or a UserError naming the field that is wrong."""
    return NewSubscriber(
        email=normalise_email(email),
        name=clean_name(name),
        sections=parse_sections(sections, known),
        status=_choice(SubscriberStatus, status, "status"),
        frequency=_choice(Frequency, frequency, "frequency"),
        timezone=parse_timezone(timezone),
        hour=parse_hour(hour),
        languages=parse_languages(languages),
    )


def parse_languages(raw: str | Sequence[str]) -> tuple[str, ...]:
    """Language tags from "es,en" or "es;en" or a list (empty: every language); UserError
    naming one that is not a tag."""
    names = _SECTION_SPLIT.split(raw) if isinstance(raw, str) else list(raw)
    found = []
    for name in (n.strip() for n in names if n.strip()):
        tag = language_tag(name)
        if not tag:
            raise UserError(f"language {name!r} is not a language tag (like 'es' or 'pt-BR')")
        found.append(tag)
    return tuple(dict.fromkeys(found))


def parse_timezone(raw: str | None) -> str | None:
    """An IANA zone name as given (None or empty: the site's zone); UserError if unknown."""
    name = (raw or "").strip()
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"unknown time zone {name!r} (an IANA name like 'Asia/Kolkata')") from None
    return name


def parse_hour(raw: str | int | None) -> int | None:
    """A delivery hour 0-23 (None or empty: the site's default); UserError otherwise."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    text = str(raw).strip().split(":", 1)[0]
    if not text.isdigit() or not 0 <= int(text) <= 23:
        raise UserError(f"hour {raw!r} is not an hour of the day (0-23, or 07:00)")
    return int(text)


def _choice(kind: type[SubscriberStatus] | type[Frequency], value: object, label: str) -> object:
    try:
        return kind(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise UserError(f"{label} {value!r} is not one of {allowed}") from None
