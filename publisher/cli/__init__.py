"""The command line: the one place that turns errors into messages and exit codes.

Modules here import only click at load time; everything else is imported by the command that
needs it, so `publisher --help` answers at once.
"""

from __future__ import annotations

import logging
import sys

import click

from publisher.cli.common import Context
from publisher.errors import PublisherError, SettingsError, UserError

_USER_ERRORS = (SettingsError, UserError)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False),
    help="Settings file (default: settings.toml or $PUBLISHER_CONFIG).",
)
@click.option(
    "--verbose", "-v", is_flag=True, help="Log every event (new and updated articles too)."
)
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: bool) -> None:
    """publisher: gathers a news portal's articles, writes its feeds and sends its email digests."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = Context(config)


def main() -> None:
    """Console-script entry point: run the CLI, mapping publisher errors to exit codes."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except _USER_ERRORS as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except PublisherError as exc:
        click.echo(f"failed: {exc}", err=True)
        sys.exit(1)


from publisher.cli import content, delivery, editions, mail, service  # noqa: E402

content.register(cli)
mail.register(cli)
editions.register(cli)
delivery.register(cli)
service.register(cli)
