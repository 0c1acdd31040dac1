"""The editors' dashboard: sign-in, preview, test send, send now, progress and history.

Signing in compares the password with a hash made at start-up from PUBLISHER_ADMIN_PASSWORD;
a signed session cookie then carries the sign-in. Pages answer a 302 to the sign-in page
without it, the JSON API a 401. Sending happens in the delivery workers: "send now" plans the
edition, asks for confirmation with its counts, then sets it sending."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response as BaseResponse

from publisher.digest.editions import new_edition
from publisher.errors import PublisherError, UserError
from publisher.models import DeliveryState, EditionKind, EditionProgress, PlannedEdition
from publisher.pipeline import mailer
from publisher.store.leases import SCHEDULER
from publisher.web.context import context, now
from publisher.web.protect import limiter

log = logging.getLogger(__name__)
blueprint = Blueprint("admin", __name__, url_prefix="/admin")
_BANNER = "margin:0;padding:8px 12px;background:#fff4ce;color:#3c3000;font:14px sans-serif"
FINISHED = (DeliveryState.SENT, DeliveryState.BOUNCED, DeliveryState.FAILED)


def _login_limit() -> str:
    return context().app.settings.web.login_limit


@blueprint.before_request
def _signed_in() -> BaseResponse | tuple[dict[str, str], int] | None:
    if request.endpoint in ("admin.login",) or session.get("editor"):
        return None
    if request.path.startswith("/admin/api/"):
        return {"error": "sign in first"}, 401
    return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> BaseResponse | str | tuple[str, int]:
    """The sign-in form."""
    stored = context().admin_hash
    if request.method == "GET":
        return render_template("web/admin/login.html", enabled=stored is not None, error="")
    password = request.form.get("password", "")
    if stored is None or not check_password_hash(stored, password):
        log.warning("editor sign-in refused from=%s", request.remote_addr)
        page = render_template(
            "web/admin/login.html", enabled=stored is not None, error="Wrong password."
        )
        return page, 401
    session.clear()
    session["editor"] = True
    session.permanent = True
    log.info("editor signed in from=%s", request.remote_addr)
    target = request.args.get("next", "")
    return redirect(target if target.startswith("/admin") else url_for("admin.dashboard"))


@blueprint.post("/logout")
def logout() -> BaseResponse:
    """Sign out."""
    session.clear()
    return redirect(url_for("admin.login"))


@blueprint.get("/")
def dashboard() -> str:
    """Preview, test send, send now, and the history of sends."""
    web = context()
    from publisher.delivery.transports import destination

    return render_template(
        "web/admin/dashboard.html",
        sections=[(s.slug, s.title) for s in web.app.settings.sections],
        kinds=[k.value for k in EditionKind],
        history=(history := [_progress(i) for i in web.app.store.editions.history(30)]),
        held=[item for item in history if item["status"] == "held"],
        destination=destination(web.app.settings),
        leader=_leader(),
    )


def _leader() -> str:
    """Which `publisher run` schedules now, as the dashboard says it."""
    held = context().app.store.leases.holder(SCHEDULER)
    if held is None or held.expires_at < now():
        return "no scheduler is running"
    return f"scheduled by {held.owner} since {held.acquired_at:%Y-%m-%d %H:%M} UTC"


@blueprint.get("/preview")
def preview() -> str:
    """The next edition's digest as a reader of the chosen sections would get it; when nothing
    is new for them, the newest articles of those sections, said in a banner."""
    from publisher.digest.build import preview_subscriber
    from publisher.subscribers.validate import parse_sections

    web = context()
    known = [s.slug for s in web.app.settings.sections]
    try:
        sections = parse_sections(request.args.getlist("sections"), known)
    except UserError as exc:
        abort(400, description=str(exc))
    builder = mailer(web.app)
    edition = new_edition(_kind(request.args.get("kind", "daily")), now(), _zone())
    reader = preview_subscriber(sections, now())
    plan = builder.plan(edition, [reader])
    note = ""
    if not plan.recipients:
        plan = builder.latest(edition, reader, web.app.settings.digest.max_per_section)
        note = "Nothing is new in these sections: these are their newest articles."
    if not plan.recipients:
        return render_template("web/admin/empty_preview.html")
    page = builder.web_page(plan, builder.recipient(reader, edition))
    if note:
        banner = f'<p style="{_BANNER}" role="status">{note}</p>'
        page = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + banner, page, count=1)
    return page


@blueprint.post("/test")
def test_send() -> BaseResponse:
    """Send one copy of the current edition to an address, subject prefixed [TEST]."""
    from publisher.delivery.send import send_test
    from publisher.delivery.transports import build_transport
    from publisher.subscribers.validate import normalise_email

    web = context()
    kind = _kind(request.form.get("kind", "daily"))
    try:
        email = normalise_email(request.form.get("email", ""))
        planned = _current(kind)
        transport = build_transport(web.app.settings)
        try:
            subject = send_test(mailer(web.app), transport, planned, email, now=now())
        finally:
            transport.close()
    except PublisherError as exc:
        flash(f"Test not sent: {exc}", "error")
    else:
        flash(f"Test sent to {email}: {subject}", "ok")
    return redirect(url_for("admin.dashboard"))


@blueprint.post("/send")
def plan_send() -> str:
    """Step one of "send now": what a send would do. Nothing is stored yet (an editor who
    backs out leaves no edition behind); an edition planned before shows its own counts."""
    from publisher.delivery.transports import destination

    web = context()
    found = _current(_kind(request.form.get("kind", "daily")))
    stored = found.edition.id is not None
    if not stored:
        builder = mailer(web.app)
        dry = builder.plan(found.edition, builder.audience(found.edition))
        found = replace(
            found, variants=len(dry.variants), deliveries=len(dry.recipients), skipped=dry.skipped
        )
    return render_template(
        "web/admin/confirm_send.html",
        planned=found,
        stored=stored,
        progress=_progress_of(found.edition.key) if stored else None,
        destination=destination(web.app.settings),
        waiting=_waiting(exclude=found.edition.key),
    )


def _waiting(*, exclude: str) -> list[dict[str, Any]]:
    """Editions planned but not started (held, paused, or left planned): their queued
    articles count as the readers' already, so a new send leaves them out."""
    waiting = {"held", "paused", "planned"}
    history = [_progress(item) for item in context().app.store.editions.history(30)]
    return [item for item in history if item["status"] in waiting and item["key"] != exclude]


@blueprint.post("/editions/<key>/start")
def start(key: str) -> BaseResponse:
    """Step two of "send now": plan the edition (unless it was) and set it sending; a planned,
    held or paused one is set sending."""
    from publisher.delivery.send import begin

    web = context()
    planned = web.app.store.editions.get(key) or _record(key)
    if planned is None:
        flash(f"{key} is no longer the current edition: choose it again.", "error")
        return redirect(url_for("admin.dashboard"))
    try:
        status = begin(web.app.store.deliveries, planned)
    except UserError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.dashboard"))
    log.info("editor started edition=%s status=%s", key, status.value)
    return redirect(url_for("admin.edition", key=key))


@blueprint.post("/editions/<key>/cancel")
def cancel(key: str) -> BaseResponse:
    """Cancel a planned, held or paused edition: nothing more of it is sent."""
    from publisher.models import EditionStatus

    web = context()
    planned = web.app.store.editions.get(key)
    if planned is None or planned.edition.id is None:
        abort(404)
    cancellable = (EditionStatus.PLANNED, EditionStatus.HELD, EditionStatus.PAUSED)
    done = web.app.store.deliveries.cancel(
        planned.edition.id, reason="cancelled by an editor", only_from=cancellable, now=now()
    )
    if done:
        log.warning("editor cancelled edition=%s", key)
        flash(f"{key} is cancelled: nothing more of it is sent.", "ok")
    else:
        flash(f"{key} is no longer planned, held or paused: it was not cancelled.", "error")
    return redirect(url_for("admin.edition", key=key))


@blueprint.get("/editions/<key>")
def edition(key: str) -> str:
    """An edition's progress, updated live."""
    return render_template("web/admin/edition.html", progress=_progress_of(key))


@blueprint.get("/api/editions/<key>")
def edition_json(key: str) -> dict[str, Any]:
    """An edition's progress as JSON (what the progress page polls)."""
    return _progress_of(key)


@blueprint.get("/api/editions")
def editions_json() -> dict[str, Any]:
    """The newest editions with their counts."""
    return {"editions": [_progress(item) for item in context().app.store.editions.history(30)]}


def _kind(value: str) -> EditionKind:
    try:
        return EditionKind(value)
    except ValueError:
        abort(400, description=f"unknown edition kind {value!r}")


def _zone() -> Any:
    return context().app.settings.site.zone


def _current(kind: EditionKind) -> PlannedEdition:
    """The current edition of a kind: as planned, or (not stored yet) without counts."""
    edition = new_edition(kind, now(), _zone())
    found = context().app.store.editions.get(edition.key)
    return found or PlannedEdition(
        edition=edition, variants=0, deliveries=0, skipped=0, created=False
    )


def _record(key: str) -> PlannedEdition | None:
    """Plan the edition `key` names now, if it is still the current one of its kind (a
    manual edition's key names the moment the editor asked for it)."""
    kind_name, _, moment = key.partition(":")
    try:
        kind = EditionKind(kind_name)
    except ValueError:
        return None
    edition = new_edition(kind, now(), _zone())
    if kind is EditionKind.MANUAL:
        edition = replace(edition, key=f"manual:{moment}")
    elif edition.key != key:
        return None
    return mailer(context().app).record(edition, now=now())


def _progress_of(key: str) -> dict[str, Any]:
    """An edition's progress (see `_progress`); 404 when there is no such edition."""
    found = context().app.store.editions.progress(key)
    if found is None:
        abort(404)
    return _progress(found)


def _progress(item: EditionProgress) -> dict[str, Any]:
    """An edition's counts, and how far it is: finished rows over recipients."""
    finished = sum(item.states.get(state, 0) for state in FINISHED)
    percent = 100 if not item.recipients else round(100 * finished / item.recipients)
    return {**item.as_json(), "finished": finished, "percent": percent}
