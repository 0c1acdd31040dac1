"""Screenshots of the digest in headless Chromium at 375 px and 800 px, light and dark, and
of the site's home page and the editors' dashboard.

Gathers the sample content into a scratch database, renders the digest a reader of every
section would get, and writes PNG files (default: bench/out/). Then starts `publisher run` on
another scratch copy and saves the home page (home.png) and, signed in, the dashboard
(dashboard.png).

    .venv/bin/python bench/screenshot.py [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import ROOT

from publisher.app import open_app
from publisher.digest.build import preview_subscriber
from publisher.digest.editions import new_edition
from publisher.digest.message import personalise
from publisher.gather import gather
from publisher.models import EditionKind
from publisher.pipeline import mailer as build_mailer
from publisher.settings import load_settings
from tests.browser import chromium, free_port, open_html, publisher_run, scratch_site

PAGE = {"width": 1100, "height": 900}


def digest_html(work: Path) -> str:
    shutil.copy(ROOT / "settings.toml", work / "settings.toml")
    shutil.copytree(ROOT / "content", work / "content")
    os.environ.setdefault("PUBLISHER_SECRET_KEY", "screenshot-secret-0123456789")
    app = open_app(load_settings(work / "settings.toml"))
    gather(app.store.articles, app.section_sources())
    mailer = build_mailer(app)
    now = datetime.now(UTC)
    reader = preview_subscriber([s.slug for s in app.settings.sections], now)
    plan = mailer.plan(new_edition(EditionKind.DAILY, now, app.settings.site.zone), [reader])
    [(subscriber, fingerprint)] = plan.recipients
    rendered = mailer.edition_render(plan).rendered(plan.variants[fingerprint])
    html = personalise(rendered, mailer.recipient(subscriber, plan.edition), part="html")
    app.close()
    return html


def site_pages(browser: Any, out: Path) -> list[Path]:
    """home.png and dashboard.png from a `publisher run` on a scratch copy of the default."""
    password = secrets.token_urlsafe(16)
    env = {
        "PUBLISHER_SECRET_KEY": os.environ.get("PUBLISHER_SECRET_KEY", secrets.token_hex(16)),
        "PUBLISHER_ADMIN_PASSWORD": password,
    }
    saved = []
    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        settings = scratch_site(Path(work), port)
        with publisher_run(settings, port, env, Path(work) / "publisher-run.log") as running:
            page = browser.new_page(viewport=PAGE, base_url=running.base)
            page.set_default_timeout(30_000)
            # /healthz answers before the start-up gather is done: wait for its articles.
            for _ in range(60):
                page.goto("/")
                if page.locator("main li a").count():
                    break
                page.wait_for_timeout(500)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / "home.png"), full_page=True)
            saved.append(out / "home.png")
            page.goto("/admin/")
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Editors' dashboard").wait_for()
            page.wait_for_load_state("networkidle")  # the preview frame too
            page.screenshot(path=str(out / "dashboard.png"), full_page=True)
            saved.append(out / "dashboard.png")
            page.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        html = digest_html(Path(work))
    (args.out / "digest.html").write_text(html, encoding="utf-8")
    with chromium() as browser:
        for width in (375, 800):
            for dark in (False, True):
                page = open_html(browser, html, width=width, dark=dark)
                name = f"digest-{width}{'-dark' if dark else ''}.png"
                page.screenshot(path=str(args.out / name), full_page=False)
                page.close()
                print(args.out / name)
        for path in site_pages(browser, args.out):
            print(path)


if __name__ == "__main__":
    main()
