"""The digest in a real browser: one column on a phone, 600 px on a desktop, a dark mode."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.digest.build import preview_subscriber
from publisher.digest.editions import new_edition
from publisher.digest.message import personalise
from publisher.models import EditionKind
from publisher.pipeline import mailer as build_mailer
from tests.browser import CHROMIUM, chromium, open_html
from tests.conftest import base_settings
from tests.helpers import article, put_articles

CUTOFF = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium")
        pytest.skip("chromium is not installed")
    with chromium() as launched:
        yield launched


@pytest.fixture
def digest_html(make_app, monkeypatch) -> str:
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "browser-secret-0123456789")
    sections = [{"slug": "world", "title": "World"}, {"slug": "culture", "title": "Culture"}]
    app = make_app(base_settings(sections=sections))
    long_title = "An unusually long headline " + "with many words " * 8
    put_articles(
        app.store,
        [article(n, "world", title=long_title) for n in range(4)] + [article(9, "culture")],
        now=CUTOFF - timedelta(hours=1),
    )
    mailer = build_mailer(app)
    plan = mailer.plan(
        new_edition(EditionKind.DAILY, CUTOFF, app.settings.site.zone),
        [preview_subscriber(["world", "culture"], CUTOFF)],
    )
    [(subscriber, fingerprint)] = plan.recipients
    rendered = mailer.edition_render(plan).rendered(plan.variants[fingerprint])
    return personalise(rendered, mailer.recipient(subscriber, plan.edition), part="html")


def measure(page) -> dict:
    return page.evaluate(
        """() => {
            const box = document.querySelector('.container');
            return {
                scroll: document.documentElement.scrollWidth,
                container: box.getBoundingClientRect().width,
                background: getComputedStyle(box).backgroundColor,
                text: getComputedStyle(document.querySelector('.article h2 a')).color,
                articles: document.querySelectorAll('.article').length,
            };
        }"""
    )


def test_one_column_on_a_phone_without_sideways_scrolling(browser, digest_html):
    page = open_html(browser, digest_html, width=375)
    metrics = measure(page)
    assert metrics["scroll"] <= 375 and metrics["container"] <= 375
    assert metrics["articles"] == 5
    page.close()


def test_a_600px_column_on_a_desktop(browser, digest_html):
    page = open_html(browser, digest_html, width=800)
    assert measure(page)["container"] == 600
    page.close()


def test_dark_mode(browser, digest_html):
    light = measure(open_html(browser, digest_html, width=800))
    dark = measure(open_html(browser, digest_html, width=800, dark=True))
    assert light["background"] == "rgb(255, 255, 255)"
    assert dark["background"] == "rgb(30, 30, 30)"
    assert dark["text"] == "rgb(232, 230, 227)"
