"""Commands about content: gather, feeds, related, articles, run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from publisher.cli.common import Context, console, json_option, pass_context, print_json
from publisher.errors import UserError

if TYPE_CHECKING:
    from publisher.app import App
    from publisher.models import Article, FeedsReport, GatherReport
    from publisher.pipeline import GatherRun


def register(group: click.Group) -> None:
    """Add this module's commands to the `publisher` group."""
    for command in (gather_command, feeds_command, related_command, articles_group):
        group.add_command(command)


def _run_gather(app: App, section: str | None, *, show_progress: bool, feeds: bool) -> GatherRun:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from publisher.pipeline import gather_and_publish

    chosen = [app.settings.section(section)] if section else app.settings.sections
    total = sum(len(s.sources) for s in chosen)
    err = console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, console=err, disable=not (show_progress and err.is_terminal)
    ) as progress:
        task = progress.add_task("gathering", total=total)

        def step(slug: str, key: str) -> None:
            progress.update(task, description=f"gathering {key}", advance=1)

        return gather_and_publish(app, section=section, feeds=feeds, on_source=step)


def _print_report(report: GatherReport) -> None:
    from rich.table import Table

    table = Table("section", "new", "updated", "unchanged", "rejected", title="gathered")
    for slug, counts in report.sections.items():
        table.add_row(slug, *(str(v) for v in counts.counts().values()))
    out = console()
    out.print(table)
    for slug, counts in report.sections.items():
        for error in counts.errors:
            out.print(
                f"[red]{slug}[/red] {error['where']}: {error['reason']}",
                markup=True,
                highlight=False,
            )


@click.command("gather")
@click.option("--section", help="Only this section (its slug).")
@json_option
@click.option("--no-feeds", is_flag=True, help="Do not rebuild the feeds afterwards.")
@pass_context
def gather_command(obj: Context, section: str | None, as_json: bool, no_feeds: bool) -> None:
    """Pull new and changed articles from every source, then rebuild changed feeds."""
    with obj.app() as app:
        run = _run_gather(app, section, show_progress=not as_json, feeds=not no_feeds)
    if as_json:
        print_json(run.gathered.as_json())
        return
    _print_report(run.gathered)
    if run.feeds is not None and run.feeds.written:
        _print_feeds(run.feeds)


@click.command("feeds")
@json_option
@click.option(
    "--force", is_flag=True, help="Rebuild every feed even if its articles did not change."
)
@pass_context
def feeds_command(obj: Context, as_json: bool, force: bool) -> None:
    """(Re)write every feed in the feeds folder; unchanged feeds are not rewritten."""
    from publisher.pipeline import refresh_feeds

    with obj.app() as app:
        report = refresh_feeds(app, force=force)
    if as_json:
        print_json(report.as_json())
    else:
        _print_feeds(report)


def _print_feeds(report: FeedsReport) -> None:
    summary = f"feeds: {len(report.written)} written, {report.unchanged} unchanged"
    if report.announced or report.announce_failed:
        summary += f"; websub: {report.announced} announced, {report.announce_failed} failed"
    click.echo(summary)
    if report.failed:
        click.echo(f"feeds not written (see the log): {', '.join(report.failed)}", err=True)


@click.command("related")
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
@pass_context
def related_command(
    obj: Context, ids: tuple[str, ...], limit: int | None, rebuild: bool, as_json: bool
) -> None:
    """The related articles of each article ID, with their scores."""
    if not ids and not rebuild:
        raise UserError("give one or more article ids (or --rebuild)")
    from publisher.pipeline import related_engine

    with obj.app() as app:
        engine = related_engine(app, rebuild=rebuild)
        answers = engine.related(ids, limit=limit)
    if rebuild and not as_json:
        click.echo(f"related index rebuilt: {engine.index.size} articles", err=True)
    if as_json:
        print_json({i: [vars(r) for r in found] for i, found in answers.items()})
    else:
        _print_related(answers)
    missing = [i for i in dict.fromkeys(ids) if i not in answers]
    if missing:
        raise UserError(f"unknown or unpublished article id(s): {', '.join(missing)}")


def _print_related(answers: dict[str, list[Any]]) -> None:
    from rich.table import Table

    out = console()
    for article_id, found in answers.items():
        table = Table("score", "id", "title", title=article_id, title_justify="left")
        for item in found:
            table.add_row(f"{item.score:.3f}", item.id, item.title)
        out.print(table)


@click.group("articles")
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
@pass_context
def articles_list(obj: Context, section: str | None, limit: int | None, as_json: bool) -> None:
    """The stored articles (id, section, title, dates), newest first."""
    with obj.app() as app:
        if section:
            app.settings.section(section)
        found = app.store.articles.newest(section=section, limit=limit)
    if as_json:
        print_json({"count": len(found), "articles": [_article_json(a) for a in found]})
        return
    _print_articles(found)


def _print_articles(found: list[Article]) -> None:
    from rich.table import Table

    table = Table("id", "section", "title", "published", "updated", title=f"{len(found)} articles")
    for article in found:
        table.add_row(
            article.id,
            article.section,
            article.title,
            f"{article.published:%Y-%m-%d %H:%M}",
            f"{article.updated:%Y-%m-%d %H:%M}",
        )
    console().print(table)


from publisher.cli import mail  # noqa: E402, F401  (registers the mail commands)
