"""The web app (Flask): feeds, the readers' pages and the editors' dashboard.

`create_web` builds it on an open App; `publisher serve` and `publisher run` serve it with
waitress. The app never starts a scheduler and never sends an edition itself: an editor's
"send now" sets the edition sending, and the delivery workers take it from there."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, render_template, request
from jinja2 import FileSystemLoader
from werkzeug.exceptions import HTTPException
from werkzeug.security import generate_password_hash

from publisher.app import App
from publisher.digest.render import template_folders
from publisher.settings import secret_key
from publisher.web import admin, pages, readers
from publisher.web.context import WebContext
from publisher.web.mailroom import Mailroom
from publisher.web.protect import csrf, limiter


def create_web(app: App, *, mailroom: Mailroom | None = None) -> Flask:
    """The Flask app on this App's settings and store."""
    settings = app.settings
    web = Flask(__name__, static_folder=None)
    web.jinja_loader = FileSystemLoader(template_folders(settings))
    web.config.update(
        SECRET_KEY=secret_key(settings),
        SESSION_COOKIE_NAME="publisher_session",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # a form left open over lunch still posts
        RATELIMIT_STORAGE_URI=settings.web.limiter_storage,
        RATELIMIT_HEADERS_ENABLED=True,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    password = settings.secrets.admin_password
    web.extensions["publisher"] = WebContext(
        app=app,
        mailroom=mailroom or Mailroom(settings),
        admin_hash=generate_password_hash(password) if password else None,
    )
    csrf.init_app(web)
    limiter.init_app(web)
    web.register_blueprint(pages.blueprint)
    web.register_blueprint(readers.blueprint)
    web.register_blueprint(admin.blueprint)
    web.after_request(_security_headers)
    local = settings.digest.delivery == "local"
    web.context_processor(lambda: {"site": settings.site, "local_delivery": local})
    web.register_error_handler(HTTPException, _error_page)
    return web


def _error_page(error: HTTPException) -> Response | tuple[str | dict[str, str], int]:
    code = error.code or 500
    if request.path.startswith("/admin/api/"):
        return {"error": error.description or error.name}, code
    page = render_template(
        "web/error.html", code=code, title=error.name, description=error.description
    )
    return page, code


def _security_headers(response: Response) -> Response:
    # Token links carry a reader's authority in the path: never hand them to another site.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    return response
