"""Transports, looked up by the name in `delivery.transport`."""

from __future__ import annotations

import logging
from email.utils import parseaddr
from functools import cache
from urllib.parse import urlsplit

from publisher.delivery.transports.base import (
    Outgoing,
    PermanentFailure,
    RecipientRefused,
    TemporaryFailure,
    Transport,
    TransportError,
)
from publisher.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "Outgoing",
    "PermanentFailure",
    "RecipientRefused",
    "TemporaryFailure",
    "Transport",
    "TransportError",
    "build_transport",
    "destination",
]


def build_transport(settings: Settings) -> Transport:
    """The transport the settings name, signing with DKIM when `[delivery.dkim]` asks."""
    transport: Transport
    if settings.delivery.transport == "smtp":
        from publisher.delivery.transports.smtp import SmtpTransport

        _warn_unless_https(settings.public_url)
        domain = parseaddr(settings.digest.sender)[1].rsplit("@", 1)[-1]
        transport = SmtpTransport(
            settings.delivery.smtp, password=settings.secrets.smtp_password, helo=domain
        )
    else:
        from publisher.delivery.transports.outbox import OutboxTransport

        transport = OutboxTransport(settings.resolve(settings.delivery.outbox.path))
    if settings.delivery.dkim.domain:
        from publisher.delivery.transports.dkim import DkimSigning

        transport = DkimSigning(transport, settings)
    return transport


@cache  # once a process and address
def _warn_unless_https(public_url: str) -> None:
    """Real mail with plain-http links: RFC 8058 one-click unsubscribe needs an HTTPS URI,
    and Gmail and Yahoo ask bulk senders for it. A loopback address is a test set-up."""
    parts = urlsplit(public_url)
    if parts.scheme == "https" or parts.hostname in {"localhost", "127.0.0.1", "::1"}:
        return
    log.warning(
        "web.public_url is %s: the digest's unsubscribe links are not HTTPS, so one-click "
        "unsubscribe (RFC 8058) may not be offered by Gmail or Yahoo; serve the pages over "
        "HTTPS and set web.public_url",
        public_url,
    )


def destination(settings: Settings) -> str:
    """Where the configured transport hands messages, for a person to read."""
    if settings.delivery.transport == "smtp":
        smtp = settings.delivery.smtp
        return f"smtp://{smtp.host}:{smtp.port} ({smtp.connections} connections)"
    return f"the outbox folder {settings.resolve(settings.delivery.outbox.path)}"
