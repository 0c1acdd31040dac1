"""Digest messages: one premailer run per variant, escaping, strict MIME, HTML5, size, golden."""

from __future__ import annotations

import email
import email.utils
import os
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.header import decode_header, make_header
from pathlib import Path

import html5lib
import pytest

from publisher.digest.editions import new_edition
from publisher.models import EditionKind, Frequency, Subscriber, SubscriberStatus
from publisher.pipeline import mailer as build_mailer
from tests.conftest import base_settings
from tests.helpers import article, put_articles

GOLDEN = Path(__file__).parent / "golden"
CUTOFF = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
SECTIONS = [
    {"slug": s, "title": s.replace("-", " ").title()}
    for s in ("world", "opinion", "culture", "business")
]


@pytest.fixture
def app(make_app, monkeypatch):
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "test-secret-key-0123456789")
    digest = {"max_per_section": 10, "unsubscribe_mailto": "unsubscribe@todaypress.example"}
    app = make_app(base_settings(sections=SECTIONS, digest=digest))
    stories = [
        article(
            n,
            section,
            title=f"{section.title()} story {n}: café & «quotes»",
            summary=f"Summary {n} <b>not bold</b>",
        )
        for section in ("world", "opinion", "culture", "business")
        for n in range(10)
    ]
    put_articles(app.store, stories, now=CUTOFF - timedelta(hours=2))
    return app


def person(n: int, name: str, sections: tuple[str, ...]) -> Subscriber:
    return Subscriber(
        id=n,
        email=f"reader{n}@example.com",
        name=name,
        status=SubscriberStatus.CONFIRMED,
        sections=sections,
        frequency=Frequency.DAILY,
        secret=f"secret-{n}",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def build(app, people):
    mailer = build_mailer(app)
    edition = new_edition(EditionKind.DAILY, CUTOFF, app.settings.site.zone)
    plan = mailer.plan(edition, people)
    return mailer, plan, list(mailer.messages(plan))


def parts(data: bytes):
    message = email.message_from_bytes(data, policy=policy.strict)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    return message, text.get_content(), html.get_content()


def test_premailer_runs_for_the_page_and_for_new_blocks_never_per_variant(app):
    choices = [("world",), ("opinion", "world"), ("culture",), ("world", "culture"), ("opinion",)]
    people = [person(n, f"R{n}", choices[n % len(choices)]) for n in range(20)]
    mailer = build_mailer(app)
    edition = new_edition(EditionKind.DAILY, CUTOFF, app.settings.site.zone)
    plan = mailer.plan(edition, people)
    mailer.edition_render(plan).warm(plan.variants.values())
    assert mailer.renderer.premailer_runs == 2  # the page, then every block in one run
    built = list(mailer.messages(plan))
    assert len(built) == 20 and len(plan.variants) == 5
    assert mailer.renderer.premailer_runs == 2  # joining variants runs premailer no more


def test_names_are_escaped_in_html_and_kept_in_text(app):
    hostile = [person(1, "<script>alert(1)</script>", ("world",)), person(2, '"& Co', ("world",))]
    _, _, built = build(app, hostile)
    message, text, html = parts(built[0].data)
    assert "<script>alert(1)</script>" not in html
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;," in html
    assert "Hello <script>alert(1)</script>," in text  # plain text is not HTML
    assert message["To"].addresses[0].display_name == "<script>alert(1)</script>"
    _, _, html2 = parts(built[1].data)
    assert "Hello &quot;&amp; Co," in html2


def test_every_message_is_strict_mime_with_the_spec_headers(app):
    people = [
        person(n, name, ("world", "culture"))
        for n, name in enumerate(["Ana Ruiz", "Zoë Ñúñez", "李雷", ""], 1)
    ]
    _, _, built = build(app, people)
    for item in built:
        message, text, html = parts(item.data)
        assert message.defects == []
        for part in message.walk():
            assert part.defects == []
        assert message.get_content_type() == "multipart/alternative"
        assert message["From"].addresses[0].addr_spec == "digest@todaypress.example"
        assert message["To"].addresses[0].addr_spec == item.subscriber.email
        assert message["To"].addresses[0].display_name == item.subscriber.name
        assert message["Subject"].startswith("TodayPress — November 28, 2026: ")
        assert message["Date"].datetime == CUTOFF
        assert message["Message-ID"] == item.message_id
        assert re.fullmatch(
            r"<daily\.2026-11-28\.\d+\.[0-9a-f]{12}@todaypress\.example>", item.message_id
        )
        assert message["List-Id"] == "TodayPress digest <digest.todaypress.example>"
        unsubscribe = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
        assert unsubscribe[0].startswith("https://todaypress.example/unsubscribe/")
        assert unsubscribe[1].startswith(
            "mailto:unsubscribe@todaypress.example?subject=unsubscribe%20"
        )
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert unsubscribe[0] in html and unsubscribe[0] in text
        assert "https://todaypress.example/preferences/" in html
        for line in item.data.split(b"\r\n"):
            assert len(line) <= 998
    again = build(app, people)[2]
    assert [b.data for b in again] == [b.data for b in built]  # deterministic, Message-ID included


def test_long_summaries_are_cut_so_forty_articles_stay_under_100_kb(make_app):
    app = make_app(base_settings(sections=SECTIONS, digest={"max_per_section": 10}))
    words = " ".join(f"word{n}" for n in range(600))  # a writer's own 5,000-character summary
    stories = [
        article(n, section, summary=f"Story {n}: {words}")
        for section in ("world", "opinion", "culture", "business")
        for n in range(10)
    ]
    put_articles(app.store, stories, now=CUTOFF - timedelta(hours=2))
    _, plan, built = build(app, [person(1, "Ana", ("world", "opinion", "culture", "business"))])
    assert len(next(iter(plan.variants.values())).articles) == 40
    _, text, html = parts(built[0].data)
    assert len(html.encode()) < 100_000, len(html.encode())
    assert "word40 word41" in html and "word200" not in html and "…" in html
    assert "word200" not in text and "…" in text


def test_a_forty_article_digest_is_valid_html5_under_100_kb_with_every_link_in_text(app):
    _, plan, built = build(app, [person(1, "Ana", ("world", "opinion", "culture", "business"))])
    [variant] = plan.variants.values()
    assert len(variant.articles) == 40
    _, text, html = parts(built[0].data)
    assert len(html.encode()) < 100_000, len(html.encode())
    html5lib.HTMLParser(strict=True).parse(html)  # raises on any parse error
    for item in variant.articles:
        assert (
            f"{item.url}?utm_source=newsletter&utm_medium=email&utm_campaign=daily%3A2026-11-28"
            in text
        )
    assert "https://todaypress.example/archive/daily:2026-11-28" in html
    assert 'style="' in html  # inlined by premailer
    assert "@media only screen and (max-width: 600px)" in html
    assert "prefers-color-scheme: dark" in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html  # summaries are text
    assert "TodayPress, 1 Press Street" in html and "TodayPress, 1 Press Street" in text


def test_golden_digest(app):
    _, _, built = build(app, [person(7, "Léa Novak", ("opinion", "culture"))])
    data = built[0].data
    golden = GOLDEN / "digest.mime"  # the raw message; .eml files are ignored as outbox output
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_bytes(data)
    assert data == golden.read_bytes(), (
        "digest differs from tests/golden/digest.mime (UPDATE_GOLDEN=1 to accept)"
    )


def rfc2047_display_name(data: bytes) -> str:
    """The To display name decoded as RFC 2047 says: the space between two encoded words is
    dropped (Python's address parser keeps it, unlike mail clients)."""
    raw = email.message_from_bytes(data, policy=policy.compat32)["To"]
    decoded = str(make_header(decode_header(raw)))
    return email.utils.parseaddr(decoded)[0]


def test_long_names_titles_and_trailing_spaces_stay_within_line_limits(make_app, monkeypatch):
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "test-secret-key-0123456789")
    app = make_app(base_settings(sections=SECTIONS))
    title = "A very long headline " * 30
    tricky = "x" * 71 + " é \n" + "word " * 40
    put_articles(
        app.store,
        [article(1, title=title.strip(), summary=tricky)],
        now=CUTOFF - timedelta(hours=1),
    )
    names = [
        "😀" * 200,
        "=?utf-8?q?hi?=",
        ("Ünïcödé Name With Many Words " * 6).strip(),
        'Quote " and \\ slash',
    ]
    _, _, built = build(app, [person(n, name, ("world",)) for n, name in enumerate(names, 1)])
    for item, name in zip(built, names, strict=True):
        message, text, _ = parts(item.data)
        if "=?" in name:  # quoted, so RFC 2047 readers never take it for an encoded word
            assert item.data.startswith(b'To: "=?utf-8?q?hi?=" <reader2@example.com>\r\n')
        elif name.isascii():
            assert message["To"].addresses[0].display_name == name
        else:
            assert rfc2047_display_name(item.data) == name
        assert message["Subject"].startswith("TodayPress — November 28, 2026: A very long headline")
        head, body = item.data.split(b"\r\n\r\n", 1)
        assert max(len(line) for line in head.split(b"\r\n")) <= 998
        encoded_lines = [line for line in body.split(b"\r\n") if not line.startswith(b"--")]
        assert max(len(line) for line in encoded_lines) <= 76
        assert tricky.replace("\n", " ").split()[-1] in text
