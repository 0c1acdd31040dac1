"""DKIM: each message signed (dkimpy, RSA-SHA256) before the transport.

Headers are canonicalised "relaxed" (relays refold them), the body "simple": both parts are
quoted-printable with lines of at most 76 characters, which relays leave alone, and relaxed
body canonicalisation cost ~2 ms a message in dkimpy's regular expressions. The RSA step is
dkimpy's pure-Python modular power, ~6 ms a message with a 2048-bit key, holding the GIL:
at volume, sign in the relay (OpenDKIM) or spread the send over `publisher worker`s."""

from __future__ import annotations

from dataclasses import replace

import dkim

from publisher.delivery.transports.base import Outgoing, Transport
from publisher.errors import SettingsError
from publisher.settings import Settings

# Signed headers: those a reader sees and the list headers (RFC 8058 asks for both of these).
HEADERS = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
]


class DkimSigning:
    """Signs each message, then hands it to the transport it wraps."""

    def __init__(self, transport: Transport, settings: Settings) -> None:
        key = settings.secrets.dkim_key.replace("\\n", "\n").encode()  # one-line env values
        if b"PRIVATE KEY" not in key:
            raise SettingsError("delivery.dkim: PUBLISHER_DKIM_KEY must hold the PEM private key")
        self.transport = transport
        self.connections = transport.connections
        self.domain = settings.delivery.dkim.domain.encode()
        self.selector = settings.delivery.dkim.selector.encode()
        self.key = key

    def send(self, message: Outgoing) -> None:
        """Sign, then send."""
        header = dkim.sign(
            message.data,
            self.selector,
            self.domain,
            self.key,
            include_headers=HEADERS,
            canonicalize=(b"relaxed", b"simple"),
        )
        self.transport.send(replace(message, data=header + message.data))

    def share_rate(self, parts: int) -> None:
        """The wrapped transport's rate is shared."""
        self.transport.share_rate(parts)

    def close(self) -> None:
        """Close the wrapped transport."""
        self.transport.close()
