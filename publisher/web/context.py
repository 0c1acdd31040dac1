"""What every request handler reaches: the App, the mailroom, the editors' password hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app

from publisher.app import App
from publisher.subscribers.tokens import Tokens
from publisher.web.mailroom import Mailroom


@dataclass(kw_only=True)
class WebContext:
    """The web app's share of the composition root."""

    app: App
    mailroom: Mailroom
    admin_hash: str | None  # None: no PUBLISHER_ADMIN_PASSWORD, so nobody signs in

    @property
    def tokens(self) -> Tokens:
        """The signer of readers' links (the mailroom's; one per process)."""
        return self.mailroom.notices.tokens


def context() -> WebContext:
    """The context of the app handling the current request."""
    found: WebContext = current_app.extensions["publisher"]
    return found


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)
