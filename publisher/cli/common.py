"""What the commands share: the app they open, output helpers, options."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

    from publisher.app import App


class Context:
    """The options of the `publisher` group; opens the app for a command."""

    def __init__(self, config: str | None) -> None:
        self.config = config

    @contextmanager
    def app(self) -> Iterator[App]:
        """The app on the settings, closed when the command is done."""
        from publisher.app import open_app
        from publisher.settings import load_settings

        app = open_app(load_settings(self.config))
        try:
            yield app
        finally:
            app.close()


pass_context = click.make_pass_decorator(Context)


def console(*, stderr: bool = False) -> Console:
    """A console that does not squeeze tables to 80 columns when output is piped."""
    from rich.console import Console

    found = Console(stderr=stderr)
    return found if found.is_terminal else Console(stderr=stderr, width=200)


def print_json(data: Any) -> None:
    """One JSON object on stdout."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--json`: print one JSON object with the counts."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON object with the counts."
    )(command)


def output_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`-o/--output FILE` (default: stdout)."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="File (default: stdout).",
    )(command)


def write(data: bytes, output: Path | None) -> None:
    """Bytes to the file, or to stdout."""
    if output:
        output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)
