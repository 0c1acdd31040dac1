"""Mail a request asks for, sent off the request thread (a slow relay must not hold a page).

A confirmation request is one message: when it fails, the page has already told the reader
to look in their inbox, and submitting the form again sends it again (the subscriber is stored
as pending first), so it is logged and not retried here."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from publisher.delivery.send import send_confirmation
from publisher.delivery.transports import build_transport
from publisher.digest.notices import Notices
from publisher.errors import PublisherError
from publisher.models import Subscriber
from publisher.settings import Settings

log = logging.getLogger(__name__)


class Mailroom:
    """Sends confirmation requests in one background thread, each through a fresh transport."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.notices = Notices(settings)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailroom")

    def confirmation(self, subscriber: Subscriber) -> Future[bool]:
        """Queue the confirmation request of a pending subscriber; the future says if it went."""
        return self._pool.submit(self._send, subscriber)

    def _send(self, subscriber: Subscriber) -> bool:
        transport = build_transport(self.settings)
        try:
            send_confirmation(self.notices, transport, subscriber, now=datetime.now(UTC))
            return True
        except PublisherError as exc:
            log.error("confirmation not sent subscriber=%d: %s", subscriber.id, exc)
            return False
        finally:
            transport.close()

    def close(self) -> None:
        """Send what is queued, then stop."""
        self._pool.shutdown(wait=True)
