"""Bounded HTTP GETs for the network sources: timeouts, an overall deadline, a byte cap."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from publisher.errors import SourceError


@dataclass(frozen=True, kw_only=True)
class Fetched:
    """A finished response: status, headers, body and the final URL after redirects."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str


def new_client(*, timeout: float, user_agent: str) -> httpx.Client:
    """The HTTP client every network source shares (redirects followed, timeouts set)."""
    return httpx.Client(
        follow_redirects=True,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers={"User-Agent": user_agent},
    )


def get(
    client: httpx.Client,
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int,
    deadline: float,
) -> Fetched:
    """GET `url`; raise SourceError naming the URL on a timeout, network error or oversized body."""
    where = str(httpx.URL(url, params=params)) if params else url
    stop = time.monotonic() + deadline
    try:
        with client.stream("GET", url, params=params, headers=headers) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise SourceError(where, f"response is over {max_bytes:,} bytes")
                if time.monotonic() > stop:
                    raise SourceError(where, f"no complete response within {deadline:g} s")
            return Fetched(
                status=response.status_code,
                headers=response.headers,
                body=bytes(body),
                url=str(response.url),
            )
    except httpx.TimeoutException:
        raise SourceError(where, f"timed out (gather.http_timeout = {deadline:g} s)") from None
    except httpx.HTTPError as exc:
        raise SourceError(where, f"{exc.__class__.__name__}: {exc}") from None
