"""A minimal SMTP sink for benchmarks: speaks just enough ESMTP (EHLO, MAIL, RCPT, DATA, RSET,
NOOP, QUIT; pipelining) to take every message, keeps a count and throws the message away.

aiosmtpd tops out near 400 messages a second here (its own CPU per message); this sink is an
asyncio Protocol that only scans for the end of DATA, so the sender is what gets measured.

    python tests/smtp_sink.py PORT [RECIPIENTS.json]
        prints "ready" when listening; on SIGTERM prints the count, and writes how many
        messages each recipient got into RECIPIENTS.json when given
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
from collections import Counter
from typing import ClassVar

_END = b"\r\n.\r\n"


class Sink(asyncio.Protocol):
    """One SMTP session."""

    taken = 0
    bytes = 0
    recipients: ClassVar[Counter[str]] = Counter()  # shared by every session

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = bytearray()
        self.in_data = False
        self.rcpt: list[str] = []
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        while True:
            if self.in_data:
                end = self.buffer.find(_END)
                if end < 0:
                    return self._flush(replies)
                Sink.taken += 1
                Sink.bytes += end
                Sink.recipients.update(self.rcpt)
                self.rcpt = []
                del self.buffer[: end + len(_END)]
                self.in_data = False
                replies.append(b"250 2.0.0 queued\r\n")
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return self._flush(replies)
            raw = bytes(self.buffer[:line_end])
            line = raw.upper()
            del self.buffer[: line_end + 2]
            if line.startswith(b"RCPT TO:"):
                self.rcpt.append(raw[8:].strip().strip(b"<>").decode("utf-8", "replace"))
            elif line.startswith((b"MAIL FROM:", b"RSET")):
                self.rcpt = []
            replies.append(self._command(line))
            if line.startswith(b"QUIT"):
                self._flush(replies)
                self.transport.close()
                return

    def _command(self, line: bytes) -> bytes:
        if line.startswith(b"EHLO"):
            return b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n"
        if line.startswith(b"DATA"):
            self.in_data = True
            return b"354 go ahead\r\n"
        if line.startswith(b"QUIT"):
            return b"221 bye\r\n"
        return b"250 OK\r\n"  # HELO, MAIL, RCPT, RSET, NOOP

    def _flush(self, replies: list[bytes]) -> None:
        if replies:
            self.transport.write(b"".join(replies))


async def serve(port: int, recipients: str | None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", port, backlog=512)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()
    used = resource.getrusage(resource.RUSAGE_SELF)
    if recipients:
        with open(recipients, "w", encoding="utf-8") as out:
            json.dump(Sink.recipients, out)
    print(f"{Sink.taken} {Sink.bytes} {used.ru_utime + used.ru_stime:.3f}", flush=True)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
