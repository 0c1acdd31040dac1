"""Commands about mail: subscribers, digest previews and sends."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from publisher.cli.common import (
    Context,
    console,
    json_option,
    now,
    output_option,
    pass_context,
    print_json,
    write,
)
from publisher.errors import UserError
from publisher.models import EditionKind, SubscriberStatus

if TYPE_CHECKING:
    from publisher.app import App
    from publisher.digest.build import Mailer
    from publisher.models import Subscriber
    from publisher.settings import Settings
    from publisher.store.subscribers import NewSubscriber
    from publisher.subscribers.csvio import ImportReport


def register(group: click.Group) -> None:
    """Add this module's commands to the `publisher` group."""
    for command in (subscribers_group, digest_group):
        group.add_command(command)


@click.group("subscribers")
def subscribers_group() -> None:
    """Add, import, export, list and remove subscribers."""


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--sections", default="", help="Section slugs, comma-separated (default: all).")
@click.option("--frequency", type=click.Choice(["daily", "weekly"]), default="daily")
@click.option("--timezone", help="The reader's IANA zone (default: the site's).")
@click.option("--hour", help="The reader's delivery hour, 0-23 or 07:00 (default: digest.hour).")
@click.option("--languages", default="", help="Languages they read, e.g. es,en (default: all).")
@click.option("--confirmed", is_flag=True, help="Already consented: skip the confirmation step.")
@click.option("--json", "as_json", is_flag=True, help="Print the new subscriber as JSON.")
@pass_context
def subscribers_add(
    obj: Context,
    email: str,
    name: str,
    sections: str,
    frequency: str,
    timezone: str | None,
    hour: str | None,
    languages: str,
    confirmed: bool,
    as_json: bool,
) -> None:
    """Add one subscriber: confirmed with --confirmed; otherwise pending, and sent the
    confirmation request (again, for an address already pending)."""
    from publisher.subscribers.validate import new_subscriber

    with obj.app() as app:
        known = [s.slug for s in app.settings.sections]
        status = SubscriberStatus.CONFIRMED if confirmed else SubscriberStatus.PENDING
        item = new_subscriber(
            email,
            name=name,
            sections=sections,
            known=known,
            status=status,
            frequency=frequency,
            timezone=timezone,
            hour=hour,
            languages=languages,
        )
        if confirmed:
            added, note = app.store.subscribers.add(item, now=now()), ""
        else:
            added, note = _subscribe(app, item)
    if as_json:
        print_json({**_subscriber_json(added), "confirmation_sent": not confirmed})
    else:
        click.echo(
            f"{note or 'added'} {added.email} ({added.status.value}; {', '.join(added.sections)})"
        )


def _subscribe(app: App, item: NewSubscriber) -> tuple[Subscriber, str]:
    """Add a pending subscriber and mail the confirmation request (TransportError: the
    subscriber is kept, and running the command again sends it)."""
    from publisher.delivery.send import subscribe
    from publisher.delivery.transports import TransportError, build_transport
    from publisher.digest.notices import Notices

    transport = build_transport(app.settings)
    try:
        done = subscribe(app.store.subscribers, Notices(app.settings), transport, item, now=now())
    except TransportError as exc:
        raise TransportError(
            f"{item.email} is stored as pending, but the confirmation request was not sent "
            f"({exc}); run the same command again to send it"
        ) from exc
    finally:
        transport.close()
    return done.subscriber, "added" if done.created else "sent the confirmation again to"


@subscribers_group.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--confirmed", is_flag=True, help="The list already consented: import as confirmed.")
@click.option(
    "--no-confirmation-mail",
    "quiet",
    is_flag=True,
    help="Do not mail the pending ones the request to confirm (they get nothing until then).",
)
@json_option
@pass_context
def subscribers_import(
    obj: Context, file: click.File, confirmed: bool, quiet: bool, as_json: bool
) -> None:
    """Import a CSV (email,name,sections[,status,frequency]); report bad rows, keep good ones;
    mail each new pending subscriber the request to confirm."""
    from publisher.subscribers.csvio import import_csv

    with obj.app() as app:
        known = [s.slug for s in app.settings.sections]
        report = import_csv(
            file, app.store.subscribers, known=known, confirmed=confirmed, now=now()
        )
        if not as_json:  # what was stored, before the mailing (which may take a while)
            click.echo(f"imported {report.added}, rejected {len(report.errors)}")
            for line, reason in report.errors:
                click.echo(f"line {line}: {reason}", err=True)
        if report.pending and not quiet:
            _ask_to_confirm(app, report, show=not as_json)
    if as_json:
        print_json(report.as_json())
        return
    if report.pending:
        click.echo(f"asked {report.asked} of {len(report.pending)} pending to confirm")
    for email, reason in report.not_asked:
        click.echo(f"{email}: not asked ({reason}); `subscribers add {email}` asks again", err=True)


def _ask_to_confirm(app: App, report: ImportReport, *, show: bool) -> None:
    """Mail each pending subscriber of an import the request to confirm. An address that is
    refused is named and the rest go on; trouble with the server or the connection stops
    the mailing, and everyone not asked is named."""
    from rich.progress import track

    from publisher.delivery.send import send_confirmation
    from publisher.delivery.transports import TemporaryFailure, TransportError, build_transport
    from publisher.digest.notices import Notices

    notices = Notices(app.settings)
    transport = build_transport(app.settings)
    pending = report.pending
    try:
        for index, email in enumerate(track(pending, "asking to confirm", disable=not show)):
            subscriber = app.store.subscribers.by_email(email)
            if subscriber is None or subscriber.status is not SubscriberStatus.PENDING:
                continue  # removed or confirmed meanwhile
            try:
                send_confirmation(notices, transport, subscriber, now=now())
            except TemporaryFailure as exc:  # the server's trouble: the rest would repeat it
                report.not_asked.append((email, str(exc)))
                rest = pending[index + 1 :]
                report.not_asked.extend((other, f"not tried after: {exc}") for other in rest)
                break
            except TransportError as exc:  # this address's own refusal
                report.not_asked.append((email, str(exc)))
            else:
                report.asked += 1
    finally:
        transport.close()


@subscribers_group.command("export")
@output_option
@pass_context
def subscribers_export(obj: Context, output: Path | None) -> None:
    """Every subscriber as CSV, in the format `import` reads."""
    from publisher.subscribers.csvio import export_csv

    with obj.app() as app:
        data = export_csv(app.store.subscribers.iter())
    write(data.encode("utf-8"), output)


@subscribers_group.command("list")
@click.option("--status", type=click.Choice([s.value for s in SubscriberStatus]))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"count": N, "subscribers": [one object per subscriber]}.',
)
@pass_context
def subscribers_list(obj: Context, status: str | None, as_json: bool) -> None:
    """The subscribers (email, name, status, sections)."""
    from rich.table import Table

    with obj.app() as app:
        found = list(
            app.store.subscribers.iter(status=SubscriberStatus(status) if status else None)
        )
    if as_json:
        print_json({"count": len(found), "subscribers": [_subscriber_json(s) for s in found]})
        return
    table = Table(
        "email", "name", "status", "frequency", "sections", title=f"{len(found)} subscribers"
    )
    for item in found:
        table.add_row(
            item.email, item.name, item.status.value, item.frequency.value, ", ".join(item.sections)
        )
    console().print(table)


@subscribers_group.command("remove")
@click.argument("email")
@json_option
@pass_context
def subscribers_remove(obj: Context, email: str, as_json: bool) -> None:
    """Delete a subscriber and their delivery history."""
    from publisher.subscribers.validate import normalise_email

    address = normalise_email(email)
    with obj.app() as app:
        if not app.store.subscribers.remove(address):
            raise UserError(f"{email} is not subscribed")
    if as_json:
        print_json({"removed": 1, "email": address})
        return
    click.echo(f"removed {address}")


def _subscriber_json(item: Subscriber) -> dict[str, object]:
    return {
        "email": item.email,
        "name": item.name,
        "status": item.status.value,
        "sections": list(item.sections),
        "frequency": item.frequency.value,
        "timezone": item.timezone,
        "hour": item.hour,
        "languages": list(item.languages),
    }


@click.group("digest")
def digest_group() -> None:
    """Preview the digest."""


@digest_group.command("preview")
@click.option("--subscriber", "email", help="As this subscriber would get it now.")
@click.option("--sections", help="For a reader of these sections (comma-separated).")
@click.option(
    "--latest",
    type=click.IntRange(min=1, max=200),
    help="The newest N articles of the reader's sections, even if none is new (a demo).",
)
@click.option(
    "--edition",
    "kind",
    type=click.Choice(["daily", "weekly"]),
    help="Which digest (default: the subscriber's own frequency, else daily).",
)
@click.option("--format", "fmt", type=click.Choice(["html", "text", "eml"]), default="html")
@output_option
@pass_context
def digest_preview(
    obj: Context,
    email: str | None,
    sections: str | None,
    latest: int | None,
    kind: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Render the next daily (or weekly) digest without sending it."""
    if email and sections:
        raise UserError("give --subscriber or --sections, not both")
    from publisher.digest.editions import new_edition
    from publisher.pipeline import mailer as build_mailer

    with obj.app() as app:
        mailer = build_mailer(app)
        subscriber = _preview_reader(mailer, email, sections, app.settings)
        which = EditionKind(kind or subscriber.frequency.value)
        edition = new_edition(which, now(), app.settings.site.zone)
        if latest:
            plan = mailer.latest(edition, subscriber, latest)
        else:
            plan = mailer.plan(edition, [subscriber])
        built = next(mailer.messages(plan), None)
        if built is None:
            reader = "this reader" if email is None else subscriber.email
            raise UserError(
                f"nothing new for {reader}: no article of their sections appeared since their "
                "last digest (use --latest N to preview the newest N articles anyway)"
            )
    write(_preview_part(built.data, fmt), output)


def _preview_reader(
    mailer: Mailer, email: str | None, sections: str | None, settings: Settings
) -> Subscriber:
    from publisher.digest.build import preview_subscriber
    from publisher.subscribers.validate import normalise_email, parse_sections

    if email:
        found = mailer.subscribers.by_email(normalise_email(email))
        if found is None:
            raise UserError(f"{email} is not subscribed")
        return found
    known = [s.slug for s in settings.sections]
    return preview_subscriber(parse_sections(sections or "", known), now())


def _preview_part(message: bytes, fmt: str) -> bytes:
    """The whole message, or the one part a reader sees, decoded from the built message."""
    from email import message_from_bytes, policy

    if fmt == "eml":
        return message
    parsed = message_from_bytes(message, policy=policy.default)
    part = parsed.get_body(("html",) if fmt == "html" else ("plain",))
    assert part is not None
    return part.get_content().encode("utf-8")
