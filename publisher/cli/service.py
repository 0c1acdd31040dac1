"""The long-running commands: `run` (scheduler, workers and web) and `serve` (web alone)."""

from __future__ import annotations

import click

from publisher.cli.common import Context, pass_context


def register(group: click.Group) -> None:
    """Add this module's commands to the `publisher` group."""
    group.add_command(run_command)
    group.add_command(serve_command)


@click.command("run")
@click.option("--port", type=click.IntRange(0, 65535), help="Instead of [web] port (0: any free).")
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    help="Delivery worker processes instead of [delivery] workers (0: none here).",
)
@pass_context
def run_command(obj: Context, port: int | None, workers: int | None) -> None:
    """The main job: gather on schedule, write the feeds, send the editions on their cron
    schedules through delivery workers, and serve the web pages, until SIGTERM or Ctrl-C."""
    _run(obj, schedule=True, port=port, workers=workers)


@click.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), help="Instead of [web] port (0: any free).")
@pass_context
def serve_command(obj: Context, port: int | None) -> None:
    """The web pages alone (feeds, readers' pages, the dashboard): no scheduler, no sending."""
    _run(obj, schedule=False, port=port, workers=0)


def _run(obj: Context, *, schedule: bool, port: int | None, workers: int | None) -> None:
    import logging

    from publisher.service.runner import build_service, run_service
    from publisher.settings import load_settings

    # A service logs each event (gathers, editions, sign-ups); migrations say nothing new.
    verbose = logging.getLogger().level <= logging.INFO
    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if not verbose:  # two lines a run of every job (the leader's lease every few seconds)
        logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    service = build_service(
        load_settings(obj.config),
        config=obj.config,
        schedule=schedule,
        workers=workers,
        port=port,
    )
    what = "publisher" if schedule else "publisher (web only)"
    run_service(service, announce=lambda address: click.echo(f"{what} is running: open {address}"))
