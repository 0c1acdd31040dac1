"""The SMTP transport: a pool of reused connections (plain, STARTTLS or TLS, with auth),
used by several threads at once, held to a rate, reconnecting after a 421 or a drop.

Each message goes MAIL, RCPT, DATA (in one write where the server offers PIPELINING, RFC 2920)
and each reply is read for what it is: a 5xx to RCPT is the recipient's (a bounce), unless it
is a policy refusal (5.7.x: this sender is blocked, not the address dead); a 5xx to the
message's DATA fails that message; a 4xx, a dropped connection, a refused login or a refused
sender are temporary (the message waits; the error budget pauses the send). A connection found
dead before anything was said for a message (an idle server hung up) is replaced and the
message tried at once on the new one.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from publisher.delivery.transports.base import (
    Outgoing,
    PermanentFailure,
    RecipientRefused,
    TemporaryFailure,
)
from publisher.settings import SmtpSettings

log = logging.getLogger(__name__)
_DROPS = (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError, socket.timeout)


@dataclass(kw_only=True)
class _Connection:
    smtp: smtplib.SMTP
    sent: int = 0


class _Stale(Exception):
    """The connection was dead before this message began: use a new one."""


class SmtpTransport:
    """Sends through an SMTP server with up to `connections` connections at once."""

    def __init__(self, settings: SmtpSettings, *, password: str = "", helo: str = "") -> None:
        self.settings = settings
        self.password = password
        self.helo = settings.helo or helo or "localhost"
        self.connections = settings.connections
        self._idle: queue.LifoQueue[_Connection] = queue.LifoQueue()
        self._rate = _Rate(settings.rate)
        self._lock = threading.Lock()
        self._open: list[_Connection] = []

    def share_rate(self, parts: int) -> None:
        """Send at a `parts`-th of `rate` (that many processes are sending)."""
        self._rate.share(parts)

    def send(self, message: Outgoing) -> None:
        """Send one message; TemporaryFailure, RecipientRefused or PermanentFailure."""
        self._rate.wait()
        for fresh in (False, True):
            connection = self._checkout(fresh=fresh)
            try:
                self._transact(connection, message)
            except _Stale:
                self._discard(connection)
                continue
            except (TemporaryFailure, PermanentFailure, RecipientRefused) as failure:
                self._after_failure(connection, failure)
                raise
            self._checkin(connection)
            return
        raise TemporaryFailure(f"{self._where()}: the connection dropped twice")

    def close(self) -> None:
        """QUIT every connection."""
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            _quit(connection.smtp)

    # -- one message on one connection --------------------------------------------------

    def _transact(self, connection: _Connection, message: Outgoing) -> None:
        smtp = connection.smtp
        envelope = _envelope(smtp, message)
        try:
            if smtp.has_extn("pipelining"):  # RFC 2920: MAIL, RCPT and DATA in one write
                smtp.send("".join(f"{command}\r\n" for command in (*envelope, "DATA")))
            else:
                smtp.putcmd(envelope[0])
            code, reply = smtp.getreply()
        except _DROPS as exc:
            raise _Stale() from exc
        if code == 421 and connection.sent:
            raise _Stale()
        try:
            self._rest(smtp, message, envelope, (code, reply))
        except _DROPS as exc:
            reason = f"{self._where()}: connection lost ({exc!r})"
            raise TemporaryFailure(reason, reconnect=True) from exc
        connection.sent += 1

    def _rest(
        self,
        smtp: smtplib.SMTP,
        message: Outgoing,
        envelope: tuple[str, str],
        mail: tuple[int, bytes],
    ) -> None:
        """After the reply to MAIL: the replies to RCPT and DATA (already on their way when
        pipelined; otherwise each command is sent only after the one before succeeded),
        then the message."""
        pipelined = smtp.has_extn("pipelining")
        replies = [("MAIL", mail)]
        for step, command in (("RCPT", envelope[1]), ("DATA", "DATA")):
            if not pipelined:
                if replies[-1][1][0] >= 400:
                    break
                smtp.putcmd(command)
            replies.append((step, smtp.getreply()))
        refused = any(code >= 400 for step, (code, _) in replies if step != "DATA")
        if refused and replies[-1][0] == "DATA" and replies[-1][1][0] == 354:
            smtp.send(b".\r\n")  # a server that took DATA anyway gets an empty message,
            smtp.getreply()  # which it refuses: no recipient
        for step, (code, reply) in replies:
            if step == "RCPT" and code >= 500 and not _policy(reply):
                raise RecipientRefused(_text(step, code, reply, message))
            if step == "MAIL" and code >= 500:  # the sender refused: fix it, then resume
                raise TemporaryFailure(_text(step, code, reply, message))
            _check(code, reply, step, message)
        if replies[-1][1][0] != 354:
            raise TemporaryFailure(_text("DATA", *replies[-1][1], message))
        smtp.send(_dot_stuffed(message.data))
        _check(*smtp.getreply(), "DATA", message)

    def _after_failure(self, connection: _Connection, failure: Exception) -> None:
        """After a refusal the connection is reset and reused, unless it is gone or 421."""
        if isinstance(failure, TemporaryFailure) and failure.reconnect:
            self._discard(connection)
            return
        try:
            connection.smtp.rset()
        except (*_DROPS, smtplib.SMTPException):
            self._discard(connection)
            return
        self._checkin(connection)

    # -- the pool -----------------------------------------------------------------------

    def _checkout(self, *, fresh: bool) -> _Connection:
        if not fresh:
            try:
                return self._idle.get_nowait()
            except queue.Empty:
                pass
        connection = _Connection(smtp=self._connect())
        with self._lock:
            self._open.append(connection)
        return connection

    def _checkin(self, connection: _Connection) -> None:
        if connection.sent >= self.settings.messages_per_connection:
            self._discard(connection)
        else:
            self._idle.put(connection)

    def _discard(self, connection: _Connection) -> None:
        with self._lock:
            if connection in self._open:
                self._open.remove(connection)
        _quit(connection.smtp)

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        try:
            if settings.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    settings.host,
                    settings.port,
                    local_hostname=self.helo,
                    timeout=settings.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(
                    settings.host, settings.port, local_hostname=self.helo, timeout=settings.timeout
                )
            smtp.ehlo()  # MAIL is sent step by step below, so nothing else would say EHLO
            if settings.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            # Not the message's fault: it waits (deferred) while the error budget pauses the
            # send, and goes once the credentials are fixed.
            reason = (
                f"{self._where()}: login refused ({exc.smtp_code}); check delivery.smtp."
                "username and PUBLISHER_SMTP_PASSWORD"
            )
            raise TemporaryFailure(reason, reconnect=True) from exc
        except (*_DROPS, OSError, smtplib.SMTPException) as exc:
            reason = f"{self._where()}: cannot connect ({exc!r})"
            raise TemporaryFailure(reason, reconnect=True) from exc
        return smtp

    def _where(self) -> str:
        return f"smtp://{self.settings.host}:{self.settings.port}"


class _Rate:
    """At most `rate` sends a second across all threads (0: no limit), or a share of it."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.interval = 1 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def share(self, parts: int) -> None:
        """A `parts`-th of the rate from now on."""
        if self.rate:
            self.interval = max(parts, 1) / self.rate

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


def _policy(reply: bytes) -> bool:
    """A refusal for policy (RFC 3463 enhanced code 5.7.x: blocked, rate, reputation,
    authentication): about this sender, not a sign that the address is dead."""
    return reply.lstrip().startswith(b"5.7.")


def _check(code: int, reply: bytes | str, step: str, message: Outgoing) -> None:
    if code < 400:
        return
    text = _text(step, code, reply, message)
    if code < 500:
        raise TemporaryFailure(text, reconnect=code == 421)
    raise PermanentFailure(text)


def _text(step: str, code: int, reply: bytes | str, message: Outgoing) -> str:
    said = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{step} for {message.recipient}: {code} {' '.join(said.split())[:200]}"


def _envelope(smtp: smtplib.SMTP, message: Outgoing) -> tuple[str, str]:
    """The MAIL and RCPT commands; an address beyond ASCII needs the server's SMTPUTF8."""
    options = ""
    if not (message.sender.isascii() and message.recipient.isascii()):
        if not smtp.has_extn("smtputf8"):
            raise PermanentFailure(
                f"RCPT for {message.recipient}: the server does not take addresses beyond "
                "ASCII (no SMTPUTF8)"
            )
        smtp.command_encoding = "utf-8"
        options = " SMTPUTF8"
    return (
        f"MAIL FROM:{smtplib.quoteaddr(message.sender)}{options}",
        f"RCPT TO:{smtplib.quoteaddr(message.recipient)}",
    )


def _dot_stuffed(data: bytes) -> bytes:
    """The message as DATA sends it (RFC 5321 §4.5.2): a dot doubled at the start of a line,
    CRLF at the end, then the lone dot. smtplib's own regular expression for this costs
    ~0.3 ms on a digest-sized message, while holding the GIL; bytes.replace, ~10 µs."""
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (*_DROPS, smtplib.SMTPException, OSError):
        smtp.close()
