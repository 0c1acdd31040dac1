"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it accepts and injects faults.

Faults are replies a real server gives (RFC 5321 §4.2, and what aiosmtpd's own hooks return,
docs/handlers.rst): 451 to RCPT or DATA ("try again later"); 421 to MAIL or to the end of
DATA, then the connection closed (§3.8: a server shutting down or done with a client); 550
5.1.1 to RCPT for a recipient that does not exist, 550 5.7.1 for one refused by policy; a
connection closed after the 354 while the client is still sending the message (the message is
not taken); a server slow to answer DATA; and one that says nothing to RCPT for longer than the
client waits.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    """One message the server accepted (250 to DATA)."""

    recipient: str
    message_id: str
    data: bytes
    at: float = field(default_factory=time.monotonic)  # when it was accepted


@dataclass(kw_only=True)
class Faults:
    """What goes wrong, and how often (probabilities per command)."""

    seed: int = 0
    temporary: float = 0.0  # 451 to RCPT, and again to DATA
    closing: float = 0.0  # 421 to MAIL or to the end of DATA, then the server closes
    drop: float = 0.0  # the connection closed in the middle of DATA
    bounce: Callable[[str], bool] = lambda address: False  # 550 5.1.1 to RCPT
    blocked: Callable[[str], bool] = lambda address: False  # 550 5.7.1 (policy) to RCPT
    slow: float = 0.0  # seconds before each reply to DATA
    silent: Callable[[str, int], float] = lambda address, attempt: 0.0  # RCPT answered late


@dataclass(kw_only=True)
class Mailbox:
    """What the server received and refused, safe to read from the test's thread."""

    received: list[Received] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)  # by reply code
    connections: int = 0
    attempts: Counter[str] = field(default_factory=Counter)  # RCPTs by address
    lock: threading.Lock = field(default_factory=threading.Lock)

    def counts(self) -> Counter[str]:
        """Messages accepted, by recipient."""
        with self.lock:
            return Counter(item.recipient for item in self.received)

    def duplicates(self) -> int:
        """Messages accepted more than once for a recipient (extra copies)."""
        return sum(n - 1 for n in self.counts().values() if n > 1)


class _Handler:
    def __init__(self, faults: Faults, mailbox: Mailbox, *, pipelining: bool) -> None:
        self.faults = faults
        self.mailbox = mailbox
        self.random = random.Random(faults.seed)
        self.pipelining = pipelining

    async def handle_EHLO(
        self, server: SMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """Advertise PIPELINING as Postfix, Exim and the big providers do (aiosmtpd reads
        commands one line at a time, so pipelined commands are served in order)."""
        session.host_name = hostname
        if not self.pipelining:
            return responses
        last = responses[-1]
        return [*responses[:-1], "250-" + last[4:], "250 PIPELINING"]

    def roll(self, probability: float) -> bool:
        return probability > 0 and self.random.random() < probability

    def refuse(self, reply: str) -> str:
        with self.mailbox.lock:
            self.mailbox.refused[reply[:3]] += 1
        return reply

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.mailbox.lock:
            self.mailbox.attempts[address] += 1
            attempt = self.mailbox.attempts[address]
        late = self.faults.silent(address, attempt)
        if late:
            await asyncio.sleep(late)
        if self.faults.bounce(address):
            return self.refuse("550 5.1.1 <" + address + ">: no such user here")
        if self.faults.blocked(address):
            return self.refuse("550 5.7.1 Service unavailable; client host blocked by policy")
        if self.roll(self.faults.temporary):
            return self.refuse("451 4.3.0 Temporary lookup failure, try again later")
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self.faults.slow:
            await asyncio.sleep(self.faults.slow)
        if self.roll(self.faults.temporary):
            return self.refuse("451 4.3.0 Queue file write error, try again later")
        if self.roll(self.faults.closing):  # the message is not taken; the connection ends
            asyncio.get_running_loop().call_soon(server.transport.close)
            return self.refuse("421 4.3.2 Shutting down, message not accepted")
        data: bytes = envelope.original_content
        parsed = message_from_bytes(data, policy=policy.default)
        with self.mailbox.lock:
            for recipient in envelope.rcpt_tos:
                self.mailbox.received.append(
                    Received(recipient=recipient, message_id=str(parsed["Message-ID"]), data=data)
                )
        return "250 2.0.0 OK queued"


class _FaultySMTP(SMTP):
    """aiosmtpd's server with two faults its hooks cannot make: a 421 that closes the
    connection, and a connection closed while the message is coming in."""

    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.faults = handler

    def connection_made(self, transport: Any) -> None:
        with self.faults.mailbox.lock:
            self.faults.mailbox.connections += 1
        super().connection_made(transport)

    async def smtp_MAIL(self, arg: str) -> None:
        if self.faults.roll(self.faults.faults.closing):
            await self.push(self.faults.refuse("421 4.3.2 Service shutting down, closing channel"))
            self.transport.close()
            return
        await super().smtp_MAIL(arg)

    async def smtp_DATA(self, arg: str) -> None:
        receiving = self.envelope is not None and self.envelope.rcpt_tos
        if receiving and self.faults.roll(self.faults.faults.drop):
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readuntil(b"\r\n")  # the first line of the message, then gone
            self.faults.refuse("000 dropped in DATA")
            self.transport.close()
            return
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.faulty = handler

    def factory(self) -> SMTP:
        return _FaultySMTP(self.faulty, **self.SMTP_kwargs)


def free_port() -> int:
    """A TCP port nobody listens on now (aiosmtpd cannot take port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _login(username: str, password: str) -> Callable[..., AuthResult]:
    """An aiosmtpd authenticator taking one username and password (LOGIN or PLAIN)."""

    def check(server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            username.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)  # aiosmtpd replies 235 or 535

    return check


@contextmanager
def smtp_server(
    faults: Faults | None = None,
    *,
    pipelining: bool = True,
    tls: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
    login: tuple[str, str] | None = None,
) -> Iterator[tuple[int, Mailbox]]:
    """Run the server on a free port of 127.0.0.1 for the block: (port, mailbox).

    `tls`: the server's certificate, offered by STARTTLS (required then), or from the first
    byte with `implicit_tls`. `login`: the one username and password AUTH accepts (and
    requires)."""
    mailbox = Mailbox()
    handler = _Handler(faults or Faults(), mailbox, pipelining=pipelining)
    options: dict[str, Any] = {}
    if tls is not None and implicit_tls:
        options["ssl_context"] = tls
    elif tls is not None:
        options.update(tls_context=tls, require_starttls=True)
    if login is not None:
        options.update(authenticator=_login(*login), auth_required=True)
        # aiosmtpd only knows a STARTTLS session as TLS: with implicit TLS it must not ask.
        options["auth_require_tls"] = tls is not None and not implicit_tls
    controller = _Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        server_hostname="mx.test",  # no getfqdn() per connection
        decode_data=False,
        **options,
    )
    controller.start()
    with mailbox.lock:
        mailbox.connections = 0  # start() made one to see that the server answers
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()
