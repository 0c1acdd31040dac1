"""The command line: the one place that turns errors into messages and exit codes."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from publisher.app import App, open_app
from publisher.errors import PublisherError, SettingsError, UserError
from publisher.feedfiles import FeedsReport
from publisher.gather import GatherReport
from publisher.models import Article
from publisher.pipeline import GatherRun, gather_and_publish, refresh_feeds, related_engine
from publisher.settings import load_settings

log = logging.getLogger("publisher")


def _console(*, stderr: bool = False) -> Console:
    """A console that does not squeeze tables to 80 columns when output is piped."""
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=200)


_USER_ERRORS = (SettingsError, UserError)


class _Context:
    def __init__(self, config: str | None) -> None:
        self.config = config

    @contextmanager
    def app(self) -> Iterator[App]:
        app = open_app(load_settings(self.config))
        try:
            yield app
        finally:
            app.close()


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
    ctx.obj = _Context(config)


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


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _run_gather(app: App, section: str | None, *, show_progress: bool, feeds: bool) -> GatherRun:
    chosen = [app.settings.section(section)] if section else app.settings.sections
    total = sum(len(s.sources) for s in chosen)
    console = _console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, console=console, disable=not (show_progress and console.is_terminal)
    ) as progress:
        task = progress.add_task("gathering", total=total)

        def step(slug: str, key: str) -> None:
            progress.update(task, description=f"gathering {key}", advance=1)

        return gather_and_publish(app, section=section, feeds=feeds, on_source=step)


def _print_report(report: GatherReport) -> None:
    table = Table("section", "new", "updated", "unchanged", "rejected", title="gathered")
    for slug, counts in report.sections.items():
        table.add_row(slug, *(str(v) for v in counts.counts().values()))
    console = _console()
    console.print(table)
    for slug, counts in report.sections.items():
        for error in counts.errors:
            console.print(
                f"[red]{slug}[/red] {error['where']}: {error['reason']}",
                markup=True,
                highlight=False,
            )


@cli.command("gather")
@click.option("--section", help="Only this section (its slug).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the counts.")
@click.option("--no-feeds", is_flag=True, help="Do not rebuild the feeds afterwards.")
@click.pass_obj
def gather_command(obj: _Context, section: str | None, as_json: bool, no_feeds: bool) -> None:
    """Pull new and changed articles from every source, then rebuild changed feeds."""
    with obj.app() as app:
        run = _run_gather(app, section, show_progress=not as_json, feeds=not no_feeds)
    if as_json:
        _print_json(run.gathered.as_json())
        return
    _print_report(run.gathered)
    if run.feeds is not None and run.feeds.written:
        _print_feeds(run.feeds)


@cli.command("feeds")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the counts.")
@click.option(
    "--force", is_flag=True, help="Rebuild every feed even if its articles did not change."
)
@click.pass_obj
def feeds_command(obj: _Context, as_json: bool, force: bool) -> None:
    """(Re)write every feed in the feeds folder; unchanged feeds are not rewritten."""
    with obj.app() as app:
        report = refresh_feeds(app, force=force)
    if as_json:
        _print_json(report.as_json())
    else:
        _print_feeds(report)


def _print_feeds(report: FeedsReport) -> None:
    summary = f"feeds: {len(report.written)} written, {report.unchanged} unchanged"
    if report.announced or report.announce_failed:
        summary += f"; websub: {report.announced} announced, {report.announce_failed} failed"
    click.echo(summary)


@cli.command("related")
@click.argument("ids", nargs=-1)
@click.option(
    "--limit",
    type=click.IntRange(min=1, max=50),
    help="At most this many each (default: related.limit).",
)
@click.option("--rebuild", is_flag=True, help="Rebuild the index from the whole archive first.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object {id: [{id, title, score}]}."
)
@click.pass_obj
def related_command(
    obj: _Context, ids: tuple[str, ...], limit: int | None, rebuild: bool, as_json: bool
) -> None:
    """The related articles of each article ID, with their scores."""
    if not ids and not rebuild:
        raise UserError("give one or more article ids (or --rebuild)")
    with obj.app() as app:
        engine = related_engine(app, rebuild=rebuild)
        answers = engine.related(ids, limit=limit)
    if rebuild and not as_json:
        click.echo(f"related index rebuilt: {engine.index.size} articles", err=True)
    if as_json:
        _print_json({i: [vars(r) for r in found] for i, found in answers.items()})
    else:
        _print_related(answers)
    missing = [i for i in dict.fromkeys(ids) if i not in answers]
    if missing:
        raise UserError(f"unknown or unpublished article id(s): {', '.join(missing)}")


def _print_related(answers: dict[str, list[Any]]) -> None:
    console = _console()
    for article_id, found in answers.items():
        table = Table("score", "id", "title", title=article_id, title_justify="left")
        for item in found:
            table.add_row(f"{item.score:.3f}", item.id, item.title)
        console.print(table)


@cli.group("articles")
def articles_group() -> None:
    """Inspect the stored articles."""


def _article_json(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "section": article.section,
        "title": article.title,
        "url": article.url,
        "published": article.published.isoformat(),
        "updated": article.updated.isoformat(),
        "authors": list(article.authors),
        "tags": list(article.tags),
    }


@articles_group.command("list")
@click.option("--section", help="Only this section (its slug).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def articles_list(obj: _Context, section: str | None, limit: int | None, as_json: bool) -> None:
    """The stored articles (id, section, title, dates), newest first."""
    with obj.app() as app:
        if section:
            app.settings.section(section)
        found = app.store.articles(section=section, limit=limit)
    if as_json:
        _print_json({"count": len(found), "articles": [_article_json(a) for a in found]})
        return
    _print_articles(found)


def _print_articles(found: list[Article]) -> None:
    table = Table("id", "section", "title", "published", "updated", title=f"{len(found)} articles")
    for article in found:
        table.add_row(
            article.id,
            article.section,
            article.title,
            f"{article.published:%Y-%m-%d %H:%M}",
            f"{article.updated:%Y-%m-%d %H:%M}",
        )
    _console().print(table)


@cli.command("run")
@click.pass_obj
def run_command(obj: _Context) -> None:
    """The main job on this configuration: gather every section and show what is stored."""
    with obj.app() as app:
        run = _run_gather(app, None, show_progress=True, feeds=True)
        _print_report(run.gathered)
        _print_feeds(refresh_feeds(app))
        _print_articles(app.store.articles())


from publisher import cli_mail  # noqa: E402, F401  (registers the mail commands)
