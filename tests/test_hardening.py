"""Hostile input at the edges: line breaks aimed at mail headers, placeholder look-alikes in
articles, the operator's CSS, dates in the site's language, bad format fields in settings."""

from __future__ import annotations

import email
import io
from datetime import UTC, datetime, timedelta
from email import policy

import pytest

from publisher.digest.editions import new_edition
from publisher.digest.message import Envelope, HeaderError, PreparedVariant, Recipient
from publisher.digest.render import RenderedVariant
from publisher.errors import SettingsError
from publisher.models import EditionKind
from publisher.pipeline import mailer as build_mailer
from publisher.settings import settings_from_dict
from publisher.subscribers.csvio import import_csv
from publisher.subscribers.validate import new_subscriber
from tests.conftest import base_settings, run_cli
from tests.helpers import article, markdown, put_articles, write_article

CUTOFF = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
SECTIONS = [{"slug": "world", "title": "World"}]
EVIL = "Eve\r\nBcc: everyone@evil.example"


@pytest.fixture
def app(make_app, monkeypatch):
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "test-secret-key-0123456789")
    app = make_app(base_settings(sections=SECTIONS))
    put_articles(app.store, [article(1), article(2)], now=CUTOFF - timedelta(hours=1))
    return app


def messages(app):
    mailer = build_mailer(app)
    edition = new_edition(EditionKind.DAILY, CUTOFF, app.settings.site.zone)
    plan = mailer.plan(edition, list(mailer.audience(edition)))
    return [email.message_from_bytes(b.data, policy=policy.strict) for b in mailer.messages(plan)]


HEADERS = {
    "To",
    "Message-ID",
    "List-Unsubscribe",
    "From",
    "Subject",
    "Date",
    "List-Id",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
}


def assert_no_injected_header(message) -> None:
    assert message.get_all("Bcc") is None
    assert set(message.keys()) == HEADERS


def test_a_csv_name_with_a_line_break_adds_no_header(app):
    csv = f'email,name,sections,status\nv@example.com,"{EVIL}",world,confirmed\n'
    report = import_csv(
        io.StringIO(csv),
        app.store.subscribers,
        known=["world"],
        confirmed=True,
        now=CUTOFF - timedelta(days=9),
    )
    assert report.errors == []
    [message] = messages(app)
    assert_no_injected_header(message)
    assert message["To"].addresses[0].display_name == "Eve Bcc: everyone@evil.example"


def test_subscribers_add_with_a_line_break_in_the_name(project):
    env = {"PUBLISHER_SECRET_KEY": "cli-test-secret-0123456789"}
    added = run_cli(
        "subscribers", "add", "v@example.com", "--name", EVIL, "--confirmed", cwd=project, env=env
    )
    assert added.returncode == 0, added.stderr
    run_cli("gather", "--no-feeds", cwd=project)
    eml = run_cli(
        "digest",
        "preview",
        "--subscriber",
        "v@example.com",
        "--latest",
        "2",
        "--format",
        "eml",
        cwd=project,
        env=env,
    )
    assert eml.returncode == 0, eml.stderr
    assert_no_injected_header(email.message_from_string(eml.stdout, policy=policy.default))


def test_an_article_title_with_a_line_break_adds_no_header(project):
    env = {"PUBLISHER_SECRET_KEY": "cli-test-secret-0123456789"}
    fresh = datetime.now(UTC).isoformat(timespec="seconds")
    title = "Storm\\r\\nBcc: everyone@evil.example"  # YAML double-quoted escapes
    write_article(project / "content" / "world", "evil.md", markdown(title, fresh))
    run_cli("gather", "--no-feeds", cwd=project)
    eml = run_cli(
        "digest", "preview", "--sections", "world", "--format", "eml", cwd=project, env=env
    )
    assert eml.returncode == 0, eml.stderr
    message = email.message_from_string(eml.stdout, policy=policy.default)
    assert_no_injected_header(message)
    assert "Storm Bcc: everyone@evil.example" in message["Subject"]


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("digest", "sender"),
        ("digest", "subject"),
        ("digest", "unsubscribe_mailto"),
        ("site", "name"),
    ],
)
def test_a_setting_with_a_line_break_is_a_settings_error(table, key):
    raw = base_settings()
    raw[table] = {**raw.get(table, {}), key: "X <x@x.example>\r\nBcc: everyone@evil.example"}
    with pytest.raises(SettingsError, match=f"{table}.{key}: .*control character"):
        settings_from_dict(raw)


def test_the_header_writer_refuses_control_characters_itself():
    rendered = RenderedVariant(
        fingerprint="f" * 64, subject="Hello", html="<p>x</p>", text="x", slots={}
    )
    envelope = Envelope(sender="T <t@t.example>", list_id="T <t.example>", date=CUTOFF)
    prepared = PreparedVariant(rendered, envelope)
    recipient = Recipient(
        name=EVIL,
        email="v@example.com",
        greeting="",
        unsubscribe_url="u",
        preferences_url="p",
        message_id="<m@t>",
        list_unsubscribe="<u>",
    )
    with pytest.raises(HeaderError, match="To header refused"):
        prepared.message(recipient)
    bad_subject = RenderedVariant(
        fingerprint="f" * 64, subject="A\nBcc: x@y.z", html="", text="", slots={}
    )
    with pytest.raises(HeaderError, match="Subject header refused"):
        PreparedVariant(bad_subject, envelope)


def test_placeholder_look_alikes_in_articles_stay_text(app):
    sly = "pubslot0greeting pubslot0unsubscribe"
    put_articles(app.store, [article(3, summary=sly)], now=CUTOFF - timedelta(minutes=5))
    app.store.subscribers.add(
        new_subscriber("v@example.com", name="Vera", known=["world"], status="confirmed"),
        now=CUTOFF - timedelta(days=9),
    )
    [message] = messages(app)
    html = message.get_body(("html",)).get_content()
    assert sly in html and "Hello Vera," in html
    first, second = build_mailer(app).renderer.slots, build_mailer(app).renderer.slots
    assert first != second  # random for each renderer: nothing to aim at


def test_the_css_reaches_premailer_unescaped(app):
    app.store.subscribers.add(
        new_subscriber("v@example.com", known=["world"], status="confirmed"),
        now=CUTOFF - timedelta(days=9),
    )
    [message] = messages(app)
    html = message.get_body(("html",)).get_content()
    assert 'font-family:Georgia, "Times New Roman", serif' in html.replace("&quot;", '"')
    assert "&#34;" not in html


def test_dates_come_out_in_the_site_language(make_app, monkeypatch):
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "test-secret-key-0123456789")
    raw = base_settings(sections=SECTIONS)
    raw["site"]["language"] = "es"
    app = make_app(raw)
    put_articles(app.store, [article(1)], now=CUTOFF - timedelta(hours=1))
    app.store.subscribers.add(
        new_subscriber("v@example.com", known=["world"], status="confirmed"),
        now=CUTOFF - timedelta(days=9),
    )
    [message] = messages(app)
    assert "28 de noviembre de 2026" in message["Subject"]
    assert "sábado, 28 de noviembre de 2026" in message.get_body(("html",)).get_content()


@pytest.mark.parametrize(
    ("digest", "fragment"),
    [
        ({"subject": "{site.name}"}, "digest.subject: unknown field {site.name}"),
        ({"subject": "{when}"}, "digest.subject: unknown field {when}"),
        ({"subject": "{date:%Y}"}, "digest.subject: cannot be filled in"),
        ({"subject": "News {"}, "digest.subject: Single '{'"),
        ({"utm_campaign": "{edition}-{site}"}, "digest.utm_campaign: unknown field {site}"),
    ],
)
def test_a_bad_format_field_is_a_settings_error(digest, fragment):
    with pytest.raises(SettingsError) as raised:
        settings_from_dict(base_settings(digest=digest))
    assert fragment in str(raised.value)


def test_an_unknown_language_is_a_settings_error():
    raw = base_settings()
    raw["site"]["language"] = "klingon"
    with pytest.raises(SettingsError, match=r"site\.language: unknown language 'klingon'"):
        settings_from_dict(raw)


def test_an_upstream_id_longer_than_the_store_holds_is_replaced() -> None:
    from publisher.sources.fields import MAX_ID_CHARS, article_id

    long = "urn:example:" + "x" * 2000
    found = article_id(long, fallback="f", source="s", authority="todaypress.example,2026")
    assert found.startswith("tag:todaypress.example,2026:upstream-") and len(found) < 100
    assert found == article_id(long, fallback="f", source="s", authority="todaypress.example,2026")
    short = "urn:example:" + "x" * (MAX_ID_CHARS - 12)
    assert article_id(short, fallback="f", source="s", authority="a,2026") == short
