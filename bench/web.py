"""Requests a second that `publisher run` answers on the sample site, each page measured the
same way: `--clients` keep-alive connections in threads, `--requests` requests in all.

The feed is measured twice: a plain GET (the naive feed reader: the whole file every time)
and a conditional GET with the ETag it was given (what a polite reader sends: a 304).

    .venv/bin/python bench/web.py [--requests 2000] [--clients 8]
"""

from __future__ import annotations

import argparse
import http.client
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import ROOT  # noqa: F401  (puts the repository on the import path)

from tests.browser import free_port, publisher_run, scratch_site


def measure(port: int, path: str, headers: dict[str, str], total: int, clients: int) -> tuple:
    """(requests a second, the statuses answered, body bytes) of `total` GETs of `path` over
    `clients` connections."""

    def client(count: int) -> tuple[set[int], int]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        statuses: set[int] = set()
        size = 0
        for _ in range(count):
            connection.request("GET", path, headers=headers)
            answer = connection.getresponse()
            size = len(answer.read())
            statuses.add(answer.status)
        connection.close()
        return statuses, size

    share = [total // clients + (1 if n < total % clients else 0) for n in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, share))
    seconds = time.perf_counter() - started
    statuses = set().union(*(found for found, _ in results))
    return total / seconds, statuses, results[0][1]


def wait_for_feed(port: int, path: str) -> str:
    """The feed's ETag, once the start-up gather has written it."""
    for _ in range(600):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", path)
        answer = connection.getresponse()
        answer.read()
        connection.close()
        if answer.status == 200:
            etag = answer.getheader("ETag")
            if not etag:
                raise SystemExit(f"{path} came without an ETag: no conditional GET to measure")
            return etag
        time.sleep(0.1)
    raise SystemExit(f"{path} was not written in 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        settings = scratch_site(folder, port)
        env = {"PUBLISHER_SECRET_KEY": os.urandom(16).hex()}
        with publisher_run(settings, port, env, folder / "run.log"):
            feed = "/feeds/all.rss.xml"
            etag = wait_for_feed(port, feed)
            pages = [
                ("feed, plain GET", feed, {}),
                ("feed, conditional GET", feed, {"If-None-Match": etag}),
                ("home page", "/", {}),
                ("healthz", "/healthz", {}),
            ]
            print(f"{args.requests} requests over {args.clients} connections each")
            found = {}
            for label, path, headers in pages:
                measure(port, path, headers, 100, args.clients)  # warm up
                rate, statuses, size = measure(port, path, headers, args.requests, args.clients)
                wanted = {304} if "If-None-Match" in headers else {200}
                if statuses != wanted:  # else the rate would be of other answers than its label's
                    raise SystemExit(f"{label}: answered {sorted(statuses)}, not {wanted}")
                found[label] = rate
                print(f"{label:24} {rate:8.0f}/s  status {statuses.pop()}  {size:,} bytes")
            ratio = found["feed, conditional GET"] / found["feed, plain GET"]
            print(f"conditional GET / plain GET: {ratio:.1f}x")


if __name__ == "__main__":
    main()
