"""The outbox transport: each message written atomically as an .eml file into a folder."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from publisher.delivery.transports.base import Outgoing, TemporaryFailure
from publisher.files import atomic_write

_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]+")


class OutboxTransport:
    """Writes `<message id>.eml` files; the same message written twice is one file."""

    connections = 4

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, message: Outgoing) -> None:
        """Write the message (its Message-ID names the file)."""
        try:
            atomic_write(self.path(message), lambda handle: handle.write(message.data))
        except OSError as exc:
            raise TemporaryFailure(f"cannot write to {self.folder}: {exc}") from exc

    def path(self, message: Outgoing) -> Path:
        """Where a message goes: its Message-ID made safe for a file name."""
        name = _UNSAFE.sub("_", message.message_id.strip("<>"))[:150]
        digest = hashlib.sha256(message.message_id.encode()).hexdigest()[:8]
        return self.folder / f"{name}-{digest}.eml"

    def share_rate(self, parts: int) -> None:
        """Files have no rate to share."""

    def close(self) -> None:
        """Nothing to release."""
