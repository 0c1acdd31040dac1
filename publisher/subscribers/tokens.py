"""Signed, unguessable links: one salt per purpose; keyed by the site's and the subscriber's secret.

A token carries the subscriber's id and a digest of their secret (signed, not encrypted), so
rotating a subscriber's secret invalidates every link they were sent; a token made for one
purpose never works for another.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from functools import cached_property

from itsdangerous import BadData, Signer

from publisher.errors import UserError
from publisher.models import Subscriber
from publisher.store.db import MAX_ID


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
        # One signer per purpose, built once: making tokens is on the hot path of a send.
        self._signers = {
            purpose: _Signer(secret_key, salt=f"publisher-{purpose.value}-v1")
            for purpose in Purpose
        }
        self._editions = _Signer(secret_key, salt="publisher-edition-v1")

    def edition(self, key: str) -> str:
        """The signature that opens an edition's web copy (the digest's "view in your
        browser" link), however few readers it had; the same for every reader of it."""
        return self._editions.get_signature(key).decode("ascii")

    def verify_edition(self, key: str, signature: str) -> bool:
        """True when `signature` was made for the edition `key`."""
        try:
            return self._editions.verify_signature(key, signature)
        except (BadData, UnicodeError):
            return False

    def make(self, subscriber: Subscriber, purpose: Purpose) -> str:
        """A token for this subscriber and purpose (the same inputs give the same token)."""
        payload = f"{subscriber.id}.{_tag(subscriber.secret)}"
        return self._signers[purpose].sign(payload).decode("ascii")

    @staticmethod
    def claimed_id(token: str) -> int | None:
        """The subscriber id a token claims, before it is verified; None if it is malformed."""
        head = token.split(".", 1)[0]
        if not (head.isascii() and head.isdigit() and len(head) < 19):
            return None
        return int(head) if int(head) <= MAX_ID else None  # no subscriber has a larger id

    def verify(self, token: str, subscriber: Subscriber, purpose: Purpose) -> bool:
        """True when the token was made for exactly this subscriber, secret and purpose."""
        try:
            payload = self._signers[purpose].unsign(token).decode("ascii")
        except (BadData, UnicodeError):
            return False
        return payload == f"{subscriber.id}.{_tag(subscriber.secret)}"


class _Signer(Signer):
    """itsdangerous' Signer, its signing key derived once instead of at every signature."""

    @cached_property
    def _signing_key(self) -> bytes:
        return super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        """The key of the newest secret (derived once), or of the one given."""
        return self._signing_key if secret_key is None else super().derive_key(secret_key)


def _tag(subscriber_secret: str) -> str:
    """A digest of the subscriber's secret: a new secret makes every earlier link invalid."""
    return hashlib.sha256(subscriber_secret.encode()).hexdigest()[:16]
