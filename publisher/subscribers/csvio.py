"""Subscribers as CSV: import (each bad row reported, good rows kept) and export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from publisher.errors import UserError
from publisher.models import Frequency, Subscriber, SubscriberStatus
from publisher.store.subscribers import NewSubscriber, SubscriberStore
from publisher.subscribers.validate import new_subscriber

CSV_FIELDS = ("email", "name", "sections", "status", "frequency", "timezone", "hour", "languages")


@dataclass(kw_only=True)
class ImportReport:
    """What an import did: rows added, and each refused row with its line number and reason."""

    added: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    # Added as pending for want of a status (a row that says `pending`, as an export does,
    # was asked before): to be asked to confirm.
    pending: list[str] = field(default_factory=list)
    asked: int = 0  # confirmation requests sent
    not_asked: list[tuple[str, str]] = field(default_factory=list)  # (email, why not)

    def as_json(self) -> dict[str, object]:
        """The object `publisher subscribers import --json` prints."""
        return {
            "added": self.added,
            "rejected": len(self.errors),
            "errors": [{"line": line, "reason": reason} for line, reason in self.errors],
            "pending": len(self.pending),
            "confirmations_sent": self.asked,
            "confirmations_failed": [{"email": e, "reason": r} for e, r in self.not_asked],
        }


def import_csv(
    stream: TextIO,
    store: SubscriberStore,
    *,
    known: Sequence[str],
    confirmed: bool,
    now: datetime,
) -> ImportReport:
    """Add every good row of a CSV with a header (email, name, sections[, status,
    frequency, timezone, hour, languages])."""
    reader = csv.DictReader(stream)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "email" not in header:
        raise UserError("the CSV needs a header row with at least an 'email' column")
    reader.fieldnames = header
    report = ImportReport()
    accepted: dict[str, tuple[int, NewSubscriber]] = {}
    stated: set[str] = set()  # rows that give their own status
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
        if (row.get("status") or "").strip():
            stated.add(item.email)
    existing = store.existing_emails(accepted)
    for email in sorted(existing, key=lambda e: accepted[e][0]):
        report.errors.append((accepted[email][0], f"{email} is already subscribed"))
    new = [item for email, (_, item) in accepted.items() if email not in existing]
    report.added = store.add_many(new, now=now)
    report.pending = [
        item.email
        for item in new
        if item.status is SubscriberStatus.PENDING and item.email not in stated
    ]
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
        timezone=row.get("timezone"),
        hour=row.get("hour"),
        languages=row.get("languages") or "",
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
                item.timezone or "",
                "" if item.hour is None else f"{item.hour:02d}:00",
                ";".join(item.languages),
            ]
        )
    return out.getvalue()
