"""Signed, unguessable links: one salt per purpose; keyed by the site's and the subscriber's secret.

A token carries only the subscriber's id (signed, not encrypted). Rotating a subscriber's
secret invalidates every link they were sent; a token made for one purpose never works for another.
"""

from __future__ import annotations

from enum import StrEnum

from itsdangerous import BadData, URLSafeSerializer

from publisher.errors import UserError
from publisher.models import Subscriber


class Purpose(StrEnum):
    """What a link lets its holder do."""

    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


class Tokens:
    """Makes and checks the tokens in subscribers' links."""

    def __init__(self, secret_key: str) -> None:
        if len(secret_key) < 16:
            raise UserError(
                "PUBLISHER_SECRET_KEY must be set to a random string of at least 16 characters"
            )
        self.secret_key = secret_key

    def _serializer(self, subscriber_secret: str, purpose: Purpose) -> URLSafeSerializer:
        return URLSafeSerializer(
            f"{self.secret_key}:{subscriber_secret}", salt=f"publisher-{purpose.value}-v1"
        )

    def make(self, subscriber: Subscriber, purpose: Purpose) -> str:
        """A token for this subscriber and purpose (the same inputs give the same token)."""
        return self._serializer(subscriber.secret, purpose).dumps(subscriber.id)

    @staticmethod
    def claimed_id(token: str) -> int | None:
        """The subscriber id a token claims, before it is verified; None if it is malformed."""
        try:
            _, payload = URLSafeSerializer("unused").loads_unsafe(token)
        except (BadData, ValueError):
            return None
        return payload if isinstance(payload, int) and not isinstance(payload, bool) else None

    def verify(self, token: str, subscriber: Subscriber, purpose: Purpose) -> bool:
        """True when the token was made for exactly this subscriber and purpose."""
        try:
            return self._serializer(subscriber.secret, purpose).loads(token) == subscriber.id
        except BadData:
            return False
