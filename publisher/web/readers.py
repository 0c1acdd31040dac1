"""A reader's own pages: sign up, confirm, choose sections and frequency, unsubscribe.

Every link carries a signed token for one subscriber and one purpose (see protect.reader);
no page shows anything of another subscriber, and the sign-up page answers the same whether
an address is new, pending or already subscribed."""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import cache

from flask import Blueprint, render_template, request

from publisher.delivery.send import enrol
from publisher.errors import UserError
from publisher.models import Frequency, Subscriber, SubscriberStatus
from publisher.store.subscribers import NewSubscriber
from publisher.subscribers.tokens import Purpose
from publisher.subscribers.validate import new_subscriber
from publisher.web.context import context, now
from publisher.web.protect import csrf, limiter, reader

log = logging.getLogger(__name__)
blueprint = Blueprint("readers", __name__)


def _subscribe_limit() -> str:
    return context().app.settings.web.subscribe_limit


@blueprint.route("/subscribe", methods=["GET", "POST"])
@limiter.limit(_subscribe_limit, methods=["POST"])
def subscribe() -> str | tuple[str, int]:
    """The sign-up form; a valid sign-up stores a pending reader and mails the confirmation."""
    settings = context().app.settings
    sections = [(s.slug, s.title) for s in settings.sections]
    if request.method == "GET":
        return render_template(
            "web/subscribe.html",
            sections=sections,
            form={},
            chosen=[],
            error="",
            default_hour=settings.digest.hour,
            languages=_language_names(settings.digest.languages),
        )
    form = request.form
    try:
        new = new_subscriber(
            form.get("email", ""),
            name=form.get("name", ""),
            sections=form.getlist("sections"),
            known=[slug for slug, _ in sections],
            frequency=form.get("frequency", "daily"),
            timezone=form.get("timezone"),
            hour=form.get("hour"),
            languages=form.getlist("languages"),
        )
    except (UserError, ValueError) as exc:
        page = render_template(
            "web/subscribe.html",
            sections=sections,
            form=form,
            chosen=form.getlist("sections"),
            error=str(exc),
            default_hour=settings.digest.hour,
            languages=_language_names(settings.digest.languages),
        )
        return page, 400
    _sign_up(replace(new, hour=_own_hour(new.hour)))
    return render_template("web/check_inbox.html", email=new.email)


def _sign_up(new: NewSubscriber) -> None:
    """Store the reader as pending and queue the confirmation; an address that is already
    subscribed (or suppressed) gets nothing, and the page does not say so."""
    web = context()
    done = enrol(web.app.store.subscribers, new, now=now())
    reader = done.subscriber
    if not done.to_confirm:
        log.info("sign-up for a known address subscriber=%d status=%s", reader.id, reader.status)
        return
    web.mailroom.confirmation(reader)


@blueprint.get("/confirm/<token>")
def confirm(token: str) -> str:
    """Confirm the subscription the link was sent for (double opt-in)."""
    subscriber = reader(token, Purpose.CONFIRM)
    store = context().app.store.subscribers
    confirmed = store.confirm(subscriber.id, now=now())
    if confirmed:
        log.info("subscriber confirmed subscriber=%d", subscriber.id)
    current = store.by_id(subscriber.id) or subscriber
    return render_template(
        "web/confirmed.html",
        subscriber=current,
        just_now=confirmed,
        preferences=_link(current, Purpose.PREFERENCES),
    )


@blueprint.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> str:
    """A button that unsubscribes; following the link alone changes nothing (link scanners
    and mail previews open every link)."""
    subscriber = reader(token, Purpose.UNSUBSCRIBE)
    return render_template("web/unsubscribe.html", subscriber=subscriber, done=False)


@blueprint.post("/unsubscribe/<token>")
@csrf.exempt  # the signed token is the proof; RFC 8058 one-click posts carry no cookie or form
def unsubscribe(token: str) -> str:
    """Unsubscribe: the page's button, or a mail client's RFC 8058 one-click POST."""
    subscriber = reader(token, Purpose.UNSUBSCRIBE)
    store = context().app.store.subscribers
    if subscriber.status in (SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING):
        store.set_status(subscriber.id, SubscriberStatus.UNSUBSCRIBED, now=now())
        via = "one-click" if request.form.get("List-Unsubscribe") == "One-Click" else "page"
        log.info("subscriber unsubscribed subscriber=%d via=%s", subscriber.id, via)
    return render_template("web/unsubscribe.html", subscriber=subscriber, done=True)


@blueprint.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str) -> str | tuple[str, int]:
    """Choose sections and frequency."""
    subscriber = reader(token, Purpose.PREFERENCES)
    web = context()
    sections = [(s.slug, s.title) for s in web.app.settings.sections]
    saved, error = False, ""
    if request.method == "POST":
        try:
            chosen = request.form.getlist("sections")
            if not chosen:
                raise UserError("choose at least one section, or unsubscribe below")
            checked = new_subscriber(
                subscriber.email,
                sections=chosen,
                known=[slug for slug, _ in sections],
                frequency=request.form.get("frequency", subscriber.frequency.value),
                timezone=request.form.get("timezone", subscriber.timezone),
                hour=request.form.get("hour", subscriber.hour),
                languages=request.form.getlist("languages"),
            )
        except (UserError, ValueError) as exc:
            error = str(exc)
        else:
            web.app.store.subscribers.set_preferences(
                subscriber.id,
                sections=checked.sections,
                frequency=Frequency(checked.frequency),
                now=now(),
                timezone=checked.timezone,
                hour=_own_hour(checked.hour),
                languages=checked.languages,
            )
            log.info("preferences saved subscriber=%d", subscriber.id)
            subscriber = web.app.store.subscribers.by_id(subscriber.id) or subscriber
            saved = True
    page = render_template(
        "web/preferences.html",
        subscriber=subscriber,
        sections=sections,
        frequencies=[f.value for f in Frequency],
        saved=saved,
        error=error,
        unsubscribe=_link(subscriber, Purpose.UNSUBSCRIBE),
        default_hour=web.app.settings.digest.hour,
        languages=_language_names(web.app.settings.digest.languages),
    )
    return (page, 400) if error else page


@cache
def _language_names(tags: tuple[str, ...]) -> list[tuple[str, str]]:
    """(tag, its name in its own language) of each language offered: "es" is "español"."""
    from babel import Locale, UnknownLocaleError

    named = []
    for tag in tags:
        try:
            named.append((tag, Locale.parse(tag, sep="-").get_display_name() or tag))
        except (UnknownLocaleError, ValueError):
            named.append((tag, tag))
    return named


def _own_hour(hour: int | None) -> int | None:
    """The hour a reader chose; the site's default hour is stored as "the default", so that
    a change of `digest.hour` moves them too."""
    return None if hour == context().app.settings.digest.hour else hour


def _link(subscriber: Subscriber, purpose: Purpose) -> str:
    """The site-relative link of this reader for one purpose."""
    token = context().tokens.make(subscriber, purpose)
    return f"/{purpose.value}/{token}"
