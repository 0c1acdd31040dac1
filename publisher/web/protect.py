"""CSRF protection for every form, rate limits, and the token checks of readers' links."""

from __future__ import annotations

from flask import abort
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from publisher.models import Subscriber
from publisher.subscribers.tokens import Purpose
from publisher.web.context import context

csrf = CSRFProtect()
# Keyed on the client's address as waitress sees it: behind a proxy, configure waitress'
# trusted_proxy so that this is the reader's address and not the proxy's.
limiter = Limiter(key_func=get_remote_address)


def reader(token: str, purpose: Purpose) -> Subscriber:
    """The subscriber a link's token was made for; 404 for a forged, altered or stale token,
    or one made for another purpose (the same answer for each: nothing to probe)."""
    web = context()
    subscriber_id = web.tokens.claimed_id(token)
    found = None if subscriber_id is None else web.app.store.subscribers.by_id(subscriber_id)
    if found is None or not web.tokens.verify(token, found, purpose):
        abort(404, description="This link is not valid. Use the newest link we sent you.")
    return found
