"""Small upstream RSS feeds served from another process on loopback, for bench/gather.py.

The server answers `/feed/<n>.xml` with feed n (a few items), with an ETag, and 304 when the
client sends it back; it runs in its own process so that it does not share the gatherer's
interpreter lock.
"""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ITEMS = 10
_PARAGRAPH = (
    "The council met the port union again on Tuesday and agreed to resume talks next week, "
    "after a night of negotiations over shift patterns, automation and pensions. "
)


def feed_bytes(n: int, items: int = ITEMS) -> bytes:
    """Feed n: `items` entries of about 1 KB of HTML each (a typical news feed: ~12 KB)."""
    body = "".join(f"&lt;p&gt;{_PARAGRAPH * 2}&lt;/p&gt;" for _ in range(2))
    entries = "".join(
        f"<item><title>Feed {n} story {i}: harbour talks</title>"
        f"<link>https://up{n % 50}.example/{n}/{i}</link>"
        f"<guid>https://up{n % 50}.example/{n}/{i}</guid>"
        f"<pubDate>Tue, {10 + i:02d} Nov 2026 08:{n % 60:02d}:00 +0000</pubDate>"
        f"<category>port</category><category>labour</category>"
        f"<description>&lt;p&gt;Story {i} of feed {n}.&lt;/p&gt;{body}</description></item>"
        for i in range(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Upstream {n}</title><link>https://up{n % 50}.example/</link>"
        f"<description>Feed {n}</description>{entries}</channel></rss>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    latency = 0.0

    def do_GET(self) -> None:
        if self.latency:
            time.sleep(self.latency)  # the network and a real server's own time
        n = int(self.path.rsplit("/", 1)[1].split(".")[0])
        etag = f'"feed-{n}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = feed_bytes(n)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _serve(hosts: list[str], port: int, latency: float) -> None:
    _Handler.latency = latency
    servers = [ThreadingHTTPServer((host, port), _Handler) for host in hosts]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait()


def start_server(
    hosts: int = 16, latency: float = 0.0
) -> tuple[multiprocessing.Process, list[str]]:
    """Start the feed server in a process of its own, on `hosts` loopback addresses (127.0.0.x:
    as many upstream hosts), answering each request after `latency` seconds; return it and
    the base URL of each host."""
    addresses = [f"127.0.0.{n}" for n in range(1, hosts + 1)]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=_serve, args=(addresses, port, latency), daemon=True)
    process.start()
    for address in addresses:
        for _ in range(100):
            try:
                socket.create_connection((address, port), timeout=0.1).close()
                break
            except OSError:
                process.join(0.05)
    return process, [f"http://{address}:{port}" for address in addresses]
