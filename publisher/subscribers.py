"""Subscriber input: email validation, section choices, CSV import and export."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from email_validator import EmailNotValidError, validate_email

from publisher.errors import UserError
from publisher.models import Frequency, Subscriber, SubscriberStatus
from publisher.subscriberstore import NewSubscriber, SubscriberStore

CSV_FIELDS = ("email", "name", "sections", "status", "frequency")
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
) -> NewSubscriber:
    """A validated subscriber, or a UserError naming the field that is wrong."""
    return NewSubscriber(
        email=normalise_email(email),
        name=clean_name(name),
        sections=parse_sections(sections, known),
        status=_choice(SubscriberStatus, status, "status"),
        frequency=_choice(Frequency, frequency, "frequency"),
    )


def _choice(kind: type[SubscriberStatus] | type[Frequency], value: object, label: str) -> object:
    try:
        return kind(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise UserError(f"{label} {value!r} is not one of {allowed}") from None


@dataclass(kw_only=True)
class ImportReport:
    """What an import did: rows added, and each refused row with its line number and reason."""

    added: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """The object `publisher subscribers import --json` prints."""
        return {
            "added": self.added,
            "rejected": len(self.errors),
            "errors": [{"line": line, "reason": reason} for line, reason in self.errors],
        }


def import_csv(
    stream: TextIO,
    store: SubscriberStore,
    *,
    known: Sequence[str],
    confirmed: bool,
    now: datetime,
) -> ImportReport:
    """Add every good row of a CSV with a header (email, name, sections[, status, frequency])."""
    reader = csv.DictReader(stream)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "email" not in header:
        raise UserError("the CSV needs a header row with at least an 'email' column")
    reader.fieldnames = header
    report = ImportReport()
    accepted: dict[str, tuple[int, NewSubscriber]] = {}
    for row in reader:
        line = reader.line_num
        try:
            item = _from_row(row, known=known, confirmed=confirmed)
        except UserError as exc:
            report.errors.append((line, str(exc)))
            continue
        if item.email in accepted:
            report.errors.append(
                (line, f"duplicate of line {accepted[item.email][0]}: {item.email}")
            )
            continue
        accepted[item.email] = (line, item)
    existing = store.existing_emails(accepted)
    for email in sorted(existing, key=lambda e: accepted[e][0]):
        report.errors.append((accepted[email][0], f"{email} is already subscribed"))
    report.added = store.add_many(
        (item for e, (_, item) in accepted.items() if e not in existing), now=now
    )
    report.errors.sort()
    return report


def _from_row(
    row: dict[str, str | None], *, known: Sequence[str], confirmed: bool
) -> NewSubscriber:
    if None in row:  # csv puts surplus fields under the key None
        raise UserError("more fields than the header has")
    status = (row.get("status") or "").strip()
    if not status:
        status = SubscriberStatus.CONFIRMED if confirmed else SubscriberStatus.PENDING
    return new_subscriber(
        row.get("email") or "",
        name=row.get("name") or "",
        sections=row.get("sections") or "",
        known=known,
        status=status,
        frequency=(row.get("frequency") or "").strip() or Frequency.DAILY,
    )


def export_csv(subscribers: Iterable[Subscriber]) -> str:
    """Every subscriber as CSV, readable by `import_csv` (sections separated by ';')."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for item in subscribers:
        writer.writerow(
            [
                item.email,
                item.name,
                ";".join(item.sections),
                item.status.value,
                item.frequency.value,
            ]
        )
    return out.getvalue()
