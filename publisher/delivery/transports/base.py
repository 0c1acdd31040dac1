"""The small protocol every transport implements, and what it raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from publisher.errors import PublisherError


@dataclass(frozen=True, kw_only=True)
class Outgoing:
    """One message to send: the envelope (return path, one recipient) and its bytes."""

    sender: str
    recipient: str
    data: bytes
    message_id: str


class TransportError(PublisherError):
    """A message could not be handed over."""


class TemporaryFailure(TransportError):
    """Try again later: a 4xx reply, a timeout, a dropped connection. `reconnect`: the
    connection is gone or the server closed it (421)."""

    def __init__(self, message: str, *, reconnect: bool = False) -> None:
        super().__init__(message)
        self.reconnect = reconnect


class RecipientRefused(TransportError):
    """A 5xx for this recipient: the address does not take mail (a bounce)."""


class PermanentFailure(TransportError):
    """A 5xx for this message (not for the recipient): sending it again will not help."""


class Transport(Protocol):
    """Hands messages over; safe to call from several threads at once.

    `send` returns when the message is accepted, or raises TemporaryFailure,
    RecipientRefused or PermanentFailure (other errors are bugs). `close` releases
    connections."""

    connections: int  # how many sends may run at once

    def send(self, message: Outgoing) -> None:
        """Hand one message over."""
        ...

    def share_rate(self, parts: int) -> None:
        """Send at a `parts`-th of the configured rate: that many processes share it."""
        ...

    def close(self) -> None:
        """Release what the transport holds."""
        ...
