"""Public pages: home, sections and articles, feeds (conditional GET), OPML, media, archive,
liveness. Nothing here shows a reader's data."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request, send_from_directory
from sqlalchemy import text

from publisher.feeds.build import KINDS, FeedInfo, feed_infos
from publisher.models import EditionStatus
from publisher.web.context import context, now

blueprint = Blueprint("pages", __name__)

FEED_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
_FEED_MAX_AGE = 60  # seconds a feed reader may keep a copy before asking again
_ARCHIVED = (EditionStatus.SENDING, EditionStatus.PAUSED, EditionStatus.DONE)


@blueprint.get("/")
def home() -> str:
    """The sections with their newest articles and feeds; autodiscovery links in the head."""
    web = context()
    settings = web.app.settings
    newest = web.app.store.articles.newest(limit=200, published_by=now())
    sections = [
        {
            "slug": section.slug,
            "title": section.title,
            "description": section.description,
            "articles": [a for a in newest if a.section == section.slug][:5],
        }
        for section in settings.sections
    ]
    return render_template("web/home.html", sections=sections, **_site())


@blueprint.get("/<slug>/")
def section_page(slug: str) -> str:
    """One section's newest articles."""
    web = context()
    section = next((s for s in web.app.settings.sections if s.slug == slug), None)
    if section is None:
        abort(404)
    articles = web.app.store.articles.newest(section=slug, limit=50, published_by=now())
    return render_template("web/section.html", section=section, articles=articles, **_site())


@blueprint.get("/<slug>/<path:rest>/")
def article_page(slug: str, rest: str) -> str:
    """A stored article at its own address (the embedded default is the portal itself)."""
    web = context()
    url = f"{web.app.settings.site.url}{request.path}"
    article = web.app.store.articles.by_url(url, published_by=now())
    if article is None:
        abort(404)
    return render_template("web/article.html", article=article, **_site())


@blueprint.get("/feeds/<name>")
def feed(name: str) -> Response:
    """A feed file, with ETag and Last-Modified; a conditional GET that matches gets 304."""
    settings = context().app.settings
    known = {info.filename(kind): kind for info in feed_infos(settings) for kind in KINDS}
    kind = known.get(name)
    if kind is None:
        abort(404)
    response = send_from_directory(
        settings.resolve(settings.feeds.path),
        name,
        mimetype=FEED_TYPES[kind],
        conditional=True,
        max_age=_FEED_MAX_AGE,
    )
    response.headers["Access-Control-Allow-Origin"] = "*"  # web-based feed readers
    return response


@blueprint.get("/feeds.opml")
def opml() -> Response:
    """Every section's feed as an OPML 2.0 outline, for a feed reader's import."""
    body = render_template("web/feeds.opml.xml", **_site())
    return Response(body, mimetype="text/x-opml")


@blueprint.get("/media/<path:name>")
def media(name: str) -> Response:
    """The articles' images (send_from_directory refuses paths outside the folder)."""
    settings = context().app.settings
    return send_from_directory(
        settings.resolve(settings.web.media), name, conditional=True, max_age=86400
    )


@blueprint.get("/archive/")
def archive() -> str:
    """The editions sent, newest first."""
    settings = context().app.settings
    found = context().app.store.editions.history(100)
    least = settings.web.archive_min_readers
    shown = [item for item in found if item.status in _ARCHIVED and item.recipients >= least]
    return render_template("web/archive.html", editions=shown, **_site())


@blueprint.get("/archive/<key>")
def archived_edition(key: str) -> str:
    """An edition as a browser shows it: every article it carried, for no reader in particular."""
    web = context()
    planned = web.app.store.editions.get(key)
    status = planned and web.app.store.deliveries.status(planned.edition.id or 0)[0]
    if planned is None or status not in _ARCHIVED or planned.edition.id is None:
        abort(404)
    few = planned.deliveries < web.app.settings.web.archive_min_readers
    if few and not web.tokens.verify_edition(key, request.args.get("s", "")):
        abort(404)  # too few readers for the public archive, and not the digest's own link
    variants = web.app.store.editions.variants(planned.edition.id)
    ids = dict.fromkeys(i for _, article_ids in variants.values() for i in article_ids)
    from publisher.pipeline import mailer

    builder = mailer(web.app)
    plan = builder.archived(planned.edition, ids)
    if not plan.recipients:
        abort(404)
    return builder.web_page(plan)


@blueprint.get("/favicon.ico")
def favicon() -> tuple[str, int]:
    """No icon (yet): an empty answer instead of a 404 in every browser's console."""
    return "", 204


@blueprint.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """Liveness: the process answers and its database does too."""
    try:
        with context().app.store.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means "not healthy", said in the answer
        return {"status": "failing", "database": type(exc).__name__}, 503
    return {"status": "ok"}, 200


def _site() -> dict[str, object]:
    settings = context().app.settings
    return {
        "site": settings.site,
        "public_url": settings.public_url,
        "feeds": _infos(),
    }


def _infos() -> list[dict[str, object]]:
    return [_info(info) for info in feed_infos(context().app.settings)]


def _info(info: FeedInfo) -> dict[str, object]:
    links = {kind: info.url(kind) for kind in KINDS}
    return {"slug": info.slug, "title": info.title, "home": info.home, "links": links}
