"""Commands about editions: plan one into the database, list them with their progress."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from publisher.cli.common import Context, console, json_option, now, pass_context, print_json
from publisher.models import EditionKind

if TYPE_CHECKING:
    from publisher.models import EditionProgress


def register(group: click.Group) -> None:
    """Add this module's commands to the `publisher` group."""
    group.add_command(editions_group)


@click.group("editions")
def editions_group() -> None:
    """Plan editions and follow their progress."""


@editions_group.command("plan")
@click.option(
    "--edition", "kind", type=click.Choice([k.value for k in EditionKind]), default="daily"
)
@json_option
@pass_context
def editions_plan(obj: Context, kind: str, as_json: bool) -> None:
    """Plan the current edition into the database (once: a second run returns the same plan)."""
    from publisher.digest.editions import new_edition
    from publisher.pipeline import mailer as build_mailer

    with obj.app() as app:
        edition = new_edition(EditionKind(kind), now(), app.settings.site.zone)
        planned = build_mailer(app).record(edition, now=now())
    if as_json:
        print_json(planned.as_json())
        return
    verb = "planned" if planned.created else "already planned"
    click.echo(
        f"{planned.edition.key} {verb}: {planned.deliveries} messages in {planned.variants} "
        f"variants; {planned.skipped} readers had nothing new"
    )


@editions_group.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=20, help="The newest N editions.")
@json_option
@pass_context
def editions_list(obj: Context, limit: int, as_json: bool) -> None:
    """The newest editions with their status and deliveries counted by state."""
    with obj.app() as app:
        found = app.store.editions.history(limit)
    if as_json:
        print_json({"editions": [item.as_json() for item in found]})
    else:
        _print_editions(found)


def _print_editions(found: list[EditionProgress]) -> None:
    from rich.table import Table

    from publisher.models import DeliveryState

    states = list(DeliveryState)
    table = Table("edition", "status", "recipients", *(s.value for s in states), title="editions")
    for item in found:
        counts = (str(item.states[state]) for state in states)
        table.add_row(item.edition.key, item.status.value, str(item.recipients), *counts)
    console().print(table)
