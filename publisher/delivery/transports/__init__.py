"""Transports, looked up by the name in `delivery.transport`."""

from __future__ import annotations

from email.utils import parseaddr

from publisher.delivery.transports.base import (
    Outgoing,
    PermanentFailure,
    RecipientRefused,
    TemporaryFailure,
    Transport,
    TransportError,
)
from publisher.settings import Settings

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


def destination(settings: Settings) -> str:
    """Where the configured transport hands messages, for a person to read."""
    if settings.delivery.transport == "smtp":
        smtp = settings.delivery.smtp
        return f"smtp://{smtp.host}:{smtp.port} ({smtp.connections} connections)"
    return f"the outbox folder {settings.resolve(settings.delivery.outbox.path)}"
