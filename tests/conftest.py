"""Shared fixtures: settings, a store on SQLite or PostgreSQL, and a real HTTP server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from lxml import etree

from publisher.app import App, open_app
from publisher.settings import Settings, settings_from_dict
from publisher.store import Store

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
# RFC 4287's RELAX NG schema (the copy in ../shared/schemas when present, else our own copy).
SHARED_RNG = ROOT.parent / "shared" / "schemas" / "atom.rng"
ATOM_RNG = SHARED_RNG if SHARED_RNG.exists() else FIXTURES / "atom.rng"
PG_ADMIN = os.environ.get("PUBLISHER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def base_settings(**overrides: Any) -> dict[str, Any]:
    """A minimal valid settings mapping: one section reading the folder `content/opinion`."""
    raw: dict[str, Any] = {
        "site": {"name": "TodayPress", "url": "https://todaypress.example", "timezone": "UTC"},
        "storage": {"url": "sqlite:///var/test.db"},
        "sections": [
            {
                "slug": "opinion",
                "title": "Opinion",
                "sources": [{"type": "markdown", "path": "content/opinion"}],
            }
        ],
        "gather": {"http_timeout": 2},
    }
    raw.update(overrides)
    return raw


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    """Build an App on a fresh SQLite file under tmp_path from a settings mapping."""
    apps: list[App] = []

    def build(raw: dict[str, Any] | None = None, *, database_url: str | None = None) -> App:
        raw = raw or base_settings()
        if database_url:
            raw = {**raw, "storage": {"url": database_url}}
        app = open_app(settings_from_dict(raw, base_dir=tmp_path))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_from_dict(base_settings(), base_dir=tmp_path)


@pytest.fixture(scope="session")
def atom_schema() -> etree.RelaxNG:
    if not ATOM_RNG.exists():
        pytest.fail(f"the Atom schema is missing: {ATOM_RNG}")
    return etree.RelaxNG(etree.parse(str(ATOM_RNG)))


def _postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN}")
        pytest.skip("PostgreSQL is not reachable")
    with scratch_postgres("publisher_test") as url:
        yield url


@contextmanager
def scratch_postgres(prefix: str, template: str = "") -> Iterator[str]:
    """A fresh PostgreSQL database (a copy of the database `template`, when given), dropped
    afterwards; its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        yield url.replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for each backend publisher supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


# -- a real HTTP server on 127.0.0.1 -------------------------------------------------------


@dataclass
class Reply:
    """What the test server answers for one path."""

    body: (
        bytes | Callable[[dict[str, list[str]], dict[str, str]], tuple[int, dict[str, str], bytes]]
    )
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    method: str = "GET"


class FixtureServer:
    """Serves `Reply` objects by path and records every request it saw."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply] = {}
        self.requests: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append(Seen(parts.path, query, headers))
                reply = server.routes.get(parts.path)
                if reply is None:
                    self._send(404, {}, b"not found")
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                if callable(reply.body):
                    status, extra, body = reply.body(query, headers)
                else:
                    status, extra, body = reply.status, {}, reply.body
                    etag = reply.headers.get("ETag")
                    if etag and headers.get("if-none-match") == etag:
                        status, body = 304, b""
                self._send(status, {**reply.headers, **extra}, body)

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = self.rfile.read(int(headers.get("content-length", 0)))
                server.requests.append(Seen(parts.path, {}, headers, body, "POST"))
                reply = server.routes.get(parts.path)
                status = reply.status if reply else 404
                self._send(status, {}, b"")

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def hits(self, path: str) -> list[Seen]:
        return [seen for seen in self.requests if seen.path == path]


@pytest.fixture
def http_server() -> Iterator[FixtureServer]:
    server = FixtureServer()
    yield server
    server.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the embedded default (settings.toml and content/) in a fresh folder."""
    shutil.copy(ROOT / "settings.toml", tmp_path / "settings.toml")
    shutil.copytree(ROOT / "content", tmp_path / "content")
    return tmp_path


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m publisher ARGS` as a user would, capturing its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "publisher", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
