"""Mail a request asks for, sent off the request thread (a slow relay must not hold a page).

A confirmation request is one message: when it fails, the page has already told the reader
to look in their inbox, and submitting the form again sends it again (the subscriber is stored
as pending first), so it is logged and not retried here."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from publisher.delivery.send import send_confirmation
from publisher.delivery.transports import build_transport
from publisher.digest.notices import Notices
from publisher.errors import PublisherError
from publisher.models import Subscriber
from publisher.settings import Settings

log = logging.getLogger(__name__)
CONFIRMATIONS = 3  # confirmation requests to one address in an hour


class Mailroom:
    """Sends confirmation requests in one background thread, each through a fresh transport."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.notices = Notices(settings)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailroom")
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def confirmation(self, subscriber: Subscriber) -> Future[bool]:
        """Queue the confirmation request of a pending subscriber; the future says if it went.
        At most `CONFIRMATIONS` go to one address an hour, whoever asks from wherever: the
        form must not become a way to flood somebody's inbox."""
        if not self._allowed(subscriber.email):
            log.warning("confirmation not sent subscriber=%d: too many this hour", subscriber.id)
            done: Future[bool] = Future()
            done.set_result(False)
            return done
        return self._pool.submit(self._send, subscriber)

    def _allowed(self, email: str) -> bool:
        now = time.monotonic()
        with self._lock:
            times = self._sent.setdefault(email, deque())
            while times and now - times[0] > 3600:
                times.popleft()
            if len(times) >= CONFIRMATIONS:
                return False
            times.append(now)
            if len(self._sent) > 100_000:  # forget the addresses quiet for an hour
                for quiet in [e for e, t in self._sent.items() if now - t[-1] > 3600]:
                    del self._sent[quiet]
            return True

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
