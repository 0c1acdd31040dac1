"""Commands that send mail: the editor's send of an edition, and the delivery worker."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from threading import Event
from typing import TYPE_CHECKING, Any

import click

from publisher.cli.common import Context, console, json_option, now, pass_context, print_json
from publisher.errors import PublisherError, UserError
from publisher.models import EditionKind

if TYPE_CHECKING:
    from publisher.app import App
    from publisher.delivery.deliver import DeliveryReport
    from publisher.models import DeliveryState, PlannedEdition, Result


def register(group: click.Group) -> None:
    """Add this module's commands to the `publisher` group."""
    group.add_command(send_command)
    group.add_command(worker_command)


class Paused(PublisherError):
    """The send stopped on its error budget (exit 1, the reason on one line)."""


@click.command("send")
@click.option(
    "--edition",
    "which",
    default="daily",
    show_default=True,
    help="daily, weekly or manual: the current edition of that kind; or an edition's key "
    "(e.g. daily:2026-12-01) to resume it.",
)
@click.option(
    "--dry-run", is_flag=True, help="Build every message to its final bytes; send nothing."
)
@click.option(
    "--test-to", metavar="EMAIL", help="Send one copy, subject prefixed [TEST]; mark nothing."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_context
def send_command(
    obj: Context, which: str, dry_run: bool, test_to: str | None, yes: bool, as_json: bool
) -> None:
    """The editor's send: plan the edition (or resume it) and deliver it."""
    if dry_run and test_to:
        raise UserError("give --dry-run or --test-to, not both")
    with obj.app() as app:
        if dry_run:
            _dry_run(app, which, as_json)
        elif test_to:
            _test(app, which, test_to, as_json)
        else:
            _send(app, which, yes=yes, as_json=as_json)


def _dry_run(app: App, which: str, as_json: bool) -> None:
    from publisher.pipeline import dry_run

    report = dry_run(app, _edition(app, which, plan=False).edition)
    if as_json:
        print_json(report.as_json())
        return
    seconds = sum(report.seconds.values())
    click.echo(
        f"{report.edition} (dry run, nothing sent): {report.messages:,} messages in "
        f"{report.variants:,} variants, {report.bytes / 1e6:.1f} MB; {report.skipped:,} readers "
        f"had nothing new; built in {seconds:.1f} s"
    )


def _test(app: App, which: str, email: str, as_json: bool) -> None:
    from publisher.delivery.send import send_test
    from publisher.delivery.transports import build_transport
    from publisher.pipeline import mailer
    from publisher.subscribers.validate import normalise_email

    address = normalise_email(email)
    planned = _edition(app, which, plan=False)
    transport = build_transport(app.settings)
    try:
        subject = send_test(mailer(app), transport, planned, address, now=now())
    finally:
        transport.close()
    if as_json:
        print_json({"edition": planned.edition.key, "test_to": address, "subject": subject})
    else:
        click.echo(f"sent a test of {planned.edition.key} to {address}: {subject}")


def _send(app: App, which: str, *, yes: bool, as_json: bool) -> None:
    from publisher.delivery.send import begin
    from publisher.delivery.transports import build_transport, destination
    from publisher.models import EditionStatus

    planned = _edition(app, which, plan=True)
    edition_id = planned.edition.id
    assert edition_id is not None
    counts = app.store.deliveries.counts(edition_id)
    if not yes:
        _confirm(planned, counts, destination(app.settings))
    status = begin(app.store.deliveries, planned)
    report = None
    if status is EditionStatus.SENDING:
        transport = build_transport(app.settings)
        try:
            report = _deliver(app, transport, edition_id, counts, show=not as_json)
        finally:
            transport.close()
    _summary(app, planned, report, as_json)


def _edition(app: App, which: str, *, plan: bool) -> PlannedEdition:
    """The edition `which` names: the current one of a kind (planned into the database when
    `plan`), or a planned one by key."""
    from publisher.digest.editions import new_edition
    from publisher.models import PlannedEdition
    from publisher.pipeline import mailer

    kinds = [kind.value for kind in EditionKind]
    if which in kinds:
        edition = new_edition(EditionKind(which), now(), app.settings.site.zone)
        if plan:
            return mailer(app).record(edition, now=now())
        found = app.store.editions.get(edition.key)
        return found or PlannedEdition(
            edition=edition, variants=0, deliveries=0, skipped=0, created=False
        )
    found = app.store.editions.get(which)
    if found is None:
        raise UserError(f"no edition {which!r}: give {', '.join(kinds)} or a planned edition's key")
    return found


def _confirm(planned: PlannedEdition, counts: dict[DeliveryState, int], where: str) -> None:
    from publisher.store.deliveries import OPEN

    if not sys.stdin.isatty():
        raise UserError("send asks for confirmation on a terminal: pass --yes to send without")
    left = sum(n for state, n in counts.items() if state.value in OPEN)
    click.confirm(
        f"Send {planned.edition.key} to {planned.deliveries:,} readers "
        f"({planned.variants:,} variants; {left:,} messages left to send) through {where}?",
        abort=True,
    )


def _deliver(
    app: App,
    transport: Any,
    edition_id: int,
    counts: dict[DeliveryState, int],
    *,
    show: bool,
) -> DeliveryReport:
    from publisher.models import DeliveryState
    from publisher.pipeline import deliverer
    from publisher.store.deliveries import OPEN

    left = sum(n for state, n in counts.items() if state.value in OPEN)
    with _progress(left, show=show) as advance, _stop_on_signals() as stop:
        report = deliverer(app, transport).run(
            edition_id=edition_id,
            stop=stop,
            on_results=lambda results: advance(
                [r for r in results if r.state is not DeliveryState.DEFERRED]
            ),
        )
    return report


@contextmanager
def _progress(total: int, *, show: bool) -> Iterator[Callable[[list[Result]], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    err = console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not (show and err.is_terminal),
    ) as progress:
        task = progress.add_task("sending", total=total)
        yield lambda results: progress.advance(task, len(results))


@contextmanager
def _stop_on_signals() -> Iterator[Event]:
    """An event set by SIGTERM or a first Ctrl-C: the messages in flight are finished and
    recorded, the rest given back. A second Ctrl-C stops at once."""
    stop = Event()

    def handle(signum: int, frame: object) -> None:
        if signum == signal.SIGINT and stop.is_set():
            raise KeyboardInterrupt
        click.echo("stopping: finishing the messages in flight", err=True)
        stop.set()

    before = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _summary(
    app: App, planned: PlannedEdition, report: DeliveryReport | None, as_json: bool
) -> None:
    edition_id = planned.edition.id
    assert edition_id is not None
    status, reason = app.store.deliveries.status(edition_id)
    counts = app.store.deliveries.counts(edition_id)
    if as_json:
        print_json(
            {
                "edition": planned.edition.key,
                "status": status.value,
                "reason": reason,
                "recipients": planned.deliveries,
                "deliveries": {state.value: n for state, n in counts.items()},
                "this_run": {s.value: n for s, n in (report.states if report else {}).items()},
            }
        )
    else:
        shown = ", ".join(f"{n:,} {state.value}" for state, n in counts.items() if n)
        click.echo(f"{planned.edition.key} {status.value}: {shown or 'no recipients'}")
    if report is not None and report.paused:
        raise Paused(f"{planned.edition.key} paused: {reason}; run send again to resume")
    if report is not None and report.stopped:
        raise Paused(f"{planned.edition.key} stopped; run send again to resume")


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is ready now, then exit.")
@json_option
@pass_context
def worker_command(obj: Context, once: bool, as_json: bool) -> None:
    """Deliver the editions being sent, alongside any number of other workers, until stopped
    (SIGTERM finishes the messages in flight)."""
    from publisher.delivery.transports import build_transport, destination
    from publisher.pipeline import deliverer

    with obj.app() as app:
        transport = build_transport(app.settings)
        try:
            run = deliverer(app, transport)
            click.echo(f"worker {run.owner} sending through {destination(app.settings)}", err=True)
            with _stop_on_signals() as stop:
                report = run.run(stop=stop, wait=not once)
        finally:
            transport.close()
    counts = {state.value: n for state, n in report.states.items()}
    if as_json:
        print_json({"owner": run.owner, "this_run": counts, "done": len(report.done)})
    else:
        click.echo(
            f"worker {run.owner}: "
            + (", ".join(f"{n} {s}" for s, n in counts.items()) or "nothing sent")
        )
