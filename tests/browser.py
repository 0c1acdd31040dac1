"""Headless Chromium (Debian's /usr/bin/chromium, through Playwright) for pages and screenshots,
and a real `publisher run` on a scratch copy of the embedded default for it to open."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("PUBLISHER_CHROMIUM", "/usr/bin/chromium")
_ARGS = [
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless browser, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_html(browser: Any, html: str, *, width: int, dark: bool = False) -> Any:
    """A page showing `html` at this width; remote resources (images) are not fetched."""
    page = browser.new_page(
        viewport={"width": width, "height": 900}, color_scheme="dark" if dark else "light"
    )
    page.route(
        "**/*",
        lambda route: route.abort() if route.request.url.startswith("http") else route.continue_(),
    )
    page.set_content(html, wait_until="domcontentloaded")
    return page


# -- a real `publisher run` on a scratch copy of the embedded default, for pages and screenshots


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scratch_site(folder: Path, port: int) -> Path:
    """Copy settings.toml and content/ into `folder`, the site's URL on `port`; the scheduled
    editions are turned off (a start-up catch-up would otherwise send today's daily edition
    between 06:00 and 09:00 UTC, before any test reader exists). The settings file's path."""
    settings = folder / "settings.toml"
    text = (ROOT / "settings.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^url = "http://127\.0\.0\.1:\d+"', f'url = "http://127.0.0.1:{port}"', text)
    text = re.sub(r'(?m)^(daily|weekly) = "[^"]*"', r'\1 = ""', text)
    if not re.search(r"(?m)^weekly = ", text):
        text = text.replace('daily = ""', 'daily = ""\nweekly = ""', 1)
    assert f"127.0.0.1:{port}" in text and 'daily = ""' in text, "settings.toml changed shape"
    settings.write_text(text, encoding="utf-8")
    shutil.copytree(ROOT / "content", folder / "content")
    return settings


@dataclass
class Running:
    """A started `publisher run`: where it answers, its process, the file its output goes to."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self, size: int = 8000) -> str:
        """The end of what it printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")[-size:]


@contextmanager
def publisher_run(settings: Path, port: int, env: dict[str, str], log: Path) -> Iterator[Running]:
    """`publisher run` on these settings (output into `log`), once /healthz answers 200.
    Stopped with SIGTERM afterwards (killed, with its workers, if it does not exit in 30 s)."""
    full_env = {k: v for k, v in os.environ.items() if k != "PUBLISHER_DATABASE_URL"}
    command = [sys.executable, "-m", "publisher", "--config", str(settings), "run"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--workers", "1"],
            cwd=settings.parent,
            env={**full_env, "PYTHONUNBUFFERED": "1", **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: its workers can be killed with it
        )
    running = Running(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"publisher run exited {process.returncode}: {running.output()}")
            try:
                with urllib.request.urlopen(f"{running.base}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"publisher run did not answer in 60 s: {running.output()}")
            time.sleep(0.1)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
