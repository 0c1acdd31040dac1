"""Screenshots of the digest in headless Chromium at 375 px and 800 px, light and dark.

Gathers the sample content into a scratch database, renders the digest a reader of every
section would get, and writes PNG files (default: bench/out/).

    .venv/bin/python bench/screenshot.py [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from common import ROOT

from publisher.app import open_app
from publisher.digest.build import preview_subscriber
from publisher.digest.editions import new_edition
from publisher.digest.message import personalise
from publisher.gather import gather
from publisher.models import EditionKind
from publisher.pipeline import mailer as build_mailer
from publisher.settings import load_settings
from tests.browser import chromium, open_html


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


if __name__ == "__main__":
    main()
