"""A real `publisher run` driven through headless Chromium, as a reader and an editor would.

One server for the module, on a scratch copy of the embedded default with three fresh articles
(the sample ones are too old for a new reader's first digest). The tests run in file order
and build on each other: a reader signs up and picks sections; an editor signs in, previews,
sends a test and sends the edition; the reader's digest then unsubscribes them; last, SIGTERM
stops the service."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from playwright.sync_api import expect

from tests.browser import CHROMIUM, Running, chromium, free_port, publisher_run, scratch_site

PASSWORD = "editor-password-for-the-browser-test"
ENV = {
    "PUBLISHER_SECRET_KEY": "browser-test-secret-0123456789",
    "PUBLISHER_ADMIN_PASSWORD": PASSWORD,
}
READER = "ada.reader@example.org"
READER_ZONE = "Pacific/Auckland"
EDITOR = "desk@example.org"
# section -> title: one new article in each section the reader ends up with.
FRESH = {
    "world": "Harbour tunnel opens to cyclists after a long wait",
    "opinion": "The night bus is a public service, not a luxury",
    "culture": "Puppet theatre returns to the old mill in Port Anselm",
}
LIST = ("subscribers", "list", "--json")
SEND_TIMEOUT = 60_000  # ms: the worker picks the edition up and writes the message


@dataclass
class Site:
    running: Running
    settings: Path
    outbox: Path

    @property
    def base(self) -> str:
        return self.running.base


def write_fresh_articles(content: Path, now: datetime) -> None:
    published = (now - timedelta(minutes=10)).isoformat(timespec="seconds")
    for section, title in FRESH.items():
        name = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        (content / section / f"{name}.md").write_text(
            f'---\ntitle: "{title}"\ndate: {published}\n'
            f'summary: "A fresh {section} story for the browser test."\n'
            f'tags: ["browser-test", "{section}"]\n---\n\n'
            f"{title}. The first paragraph says what happened, where and to whom.\n\n"
            "A second paragraph gives the background and what comes next.\n",
            encoding="utf-8",
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("site")
    port = free_port()
    settings = scratch_site(folder, port)
    write_fresh_articles(folder / "content", datetime.now(UTC))
    with publisher_run(settings, port, ENV, folder / "publisher-run.log") as running:
        # /healthz answers before the start-up gather is done: wait for the fresh articles.
        deadline = time.monotonic() + 30
        while FRESH["world"] not in urlopen(f"{running.base}/", timeout=5).read().decode():
            assert time.monotonic() < deadline, f"no fresh article on /: {running.output()}"
            time.sleep(0.2)
        yield Site(running, settings, folder / "var" / "outbox")


@pytest.fixture(autouse=True)
def server_output_on_failure(request: pytest.FixtureRequest, site: Site) -> Iterator[None]:
    """When a test fails, the end of the server's output (where its errors are)."""
    failed = request.session.testsfailed
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if request.session.testsfailed > failed and reporter is not None:
        reporter.write_sep("-", f"publisher run output ({site.running.log})")
        reporter.write_line(site.running.output())


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: install Debian's chromium"
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    """A page in a fresh context (no cookies), relative URLs on the site."""
    # A reader far from the site's zone: the sign-up page sends the browser's own.
    context = browser.new_context(base_url=site.base, timezone_id=READER_ZONE)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


# -- the outbox and the command line -------------------------------------------------------


def to_address(message: EmailMessage) -> str:
    return message["To"].addresses[0].addr_spec


def wait_for_mail(
    outbox: Path, wanted: Callable[[EmailMessage], bool], timeout: float = 20
) -> EmailMessage:
    """The first message in the outbox that `wanted` accepts, waiting for it to arrive."""
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted(outbox.glob("*.eml")):
            message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            if wanted(message):
                return message
        seen = [p.name for p in outbox.glob("*.eml")] if outbox.exists() else []
        assert time.monotonic() < deadline, f"no such message in {outbox}: {seen}"
        time.sleep(0.1)


def subscriber(site: Site, email: str) -> dict[str, Any]:
    """The subscriber as `publisher subscribers list --json` shows it."""
    env = {k: v for k, v in os.environ.items() if k != "PUBLISHER_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "publisher", "--config", str(site.settings), *LIST],
        cwd=site.settings.parent,
        env={**env, **ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = {item["email"]: item for item in json.loads(done.stdout)["subscribers"]}
    assert email in found, f"{email} is not a subscriber: {sorted(found)}"
    return found[email]


def checkbox(page: Any, title: str) -> Any:
    return page.get_by_label(title, exact=True)


# -- the tests, in order --------------------------------------------------------------------


def test_a_reader_signs_up_confirms_from_the_mail_and_changes_preferences(site, page):
    page.goto("/subscribe")
    page.get_by_label("Email address").fill(READER)
    page.get_by_label("Name (optional)").fill("Ada Reader")
    checkbox(page, "World").check()
    checkbox(page, "Opinion").check()
    expect(page.get_by_label("Daily", exact=True)).to_be_checked()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(page.get_by_text(READER)).to_be_visible()
    pending = subscriber(site, READER)
    assert (pending["status"], pending["frequency"]) == ("pending", "daily")
    assert (pending["timezone"], pending["hour"]) == (READER_ZONE, None)  # the default hour
    assert sorted(pending["sections"]) == ["opinion", "world"]

    mail = wait_for_mail(
        site.outbox,
        lambda m: to_address(m) == READER and m["Subject"].startswith("Confirm your subscription"),
    )
    text = mail.get_body(preferencelist=("plain",)).get_content()
    links = set(re.findall(rf"{re.escape(site.base)}/confirm/\S+", text))
    assert len(links) == 1, text
    page.goto(links.pop())
    expect(page.get_by_role("heading", name="You're subscribed")).to_be_visible()
    assert subscriber(site, READER)["status"] == "confirmed"

    page.get_by_role("link", name="Choose your sections and how often").click()
    expect(page).to_have_url(re.compile(r"/preferences/[^/]+$"))
    expect(checkbox(page, "World")).to_be_checked()
    expect(checkbox(page, "Opinion")).to_be_checked()
    expect(checkbox(page, "Culture")).not_to_be_checked()
    expect(page.get_by_label("Daily", exact=True)).to_be_checked()

    checkbox(page, "Culture").check()
    page.get_by_label("Weekly", exact=True).check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(checkbox(page, "Culture")).to_be_checked()
    expect(page.get_by_label("Weekly", exact=True)).to_be_checked()
    weekly = subscriber(site, READER)
    assert weekly["frequency"] == "weekly"
    assert sorted(weekly["sections"]) == ["culture", "opinion", "world"]

    # No section at all is refused, and changes nothing.
    for title in ("World", "Opinion", "Culture"):
        checkbox(page, title).uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("choose at least one section")
    assert sorted(subscriber(site, READER)["sections"]) == ["culture", "opinion", "world"]

    # Back to daily (a weekly reader is not in the daily edition the editor sends next).
    expect(checkbox(page, "Culture")).to_be_checked()  # the page shows what is stored
    page.get_by_label("Daily", exact=True).check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    daily = subscriber(site, READER)
    assert (daily["status"], daily["frequency"]) == ("confirmed", "daily")
    assert sorted(daily["sections"]) == ["culture", "opinion", "world"]


def test_b_editor_signs_in_previews_sends_a_test_and_sends_the_edition(site, page):
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    expect(page.get_by_role("heading", name="Editors' sign-in")).to_be_visible()

    page.get_by_label("Password").fill("not-the-password")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    expect(page.get_by_role("alert")).to_have_text("Wrong password.")
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))  # still not signed in

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{site.base}/admin/")
    expect(page.get_by_role("heading", name="Editors' dashboard")).to_be_visible()

    # Preview World and Opinion only: the frame loads the digest with the fresh articles.
    for title in ("International Relations", "Indigenous Affairs", "Business", "Culture"):
        checkbox(page, title).uncheck()
    with page.expect_response(lambda r: "/admin/preview?" in r.url) as preview:
        page.get_by_role("button", name="Preview").click()
    assert preview.value.status == 200
    assert preview.value.url.endswith("/admin/preview?sections=world&sections=opinion")
    frame = page.frame_locator("iframe[name=preview]")
    # Culture's article was a headline in the first preview (every section); now it is not.
    expect(frame.get_by_role("heading", name=FRESH["culture"])).to_have_count(0)
    expect(frame.get_by_role("heading", name=FRESH["world"])).to_be_visible()
    expect(frame.get_by_role("heading", name=FRESH["opinion"])).to_be_visible()
    assert page.frame(name="preview").url == preview.value.url

    page.locator("#test-email").fill(EDITOR)
    page.get_by_label("Edition", exact=True).select_option("daily")
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text(f"Test sent to {EDITOR}")
    test_mail = wait_for_mail(site.outbox, lambda m: to_address(m) == EDITOR)
    assert test_mail["Subject"].startswith("[TEST] "), test_mail["Subject"]

    today = datetime.now(UTC).date().isoformat()  # the site's zone is UTC
    page.get_by_label("Edition to send").select_option("daily")
    page.get_by_role("button", name="Send now…").click()
    expect(page.get_by_role("heading", name=f"Send daily:{today}?")).to_be_visible()
    expect(page.locator("#readers")).to_have_text("1")  # the reader, daily again
    page.get_by_role("button", name="Yes, send to 1 readers").click()
    expect(page).to_have_url(f"{site.base}/admin/editions/daily:{today}")
    expect(page.locator("#status")).to_have_text("done", timeout=SEND_TIMEOUT)
    expect(page.locator("#percent")).to_have_text("100%")
    expect(page.locator("#bar")).to_have_js_property("value", 100)
    expect(page.locator("#count-sent")).to_have_text("1")

    page.goto("/admin/")
    row = page.locator("#history tr", has_text=f"daily:{today}")
    expect(row).to_contain_text("done")
    expect(row).to_contain_text("100%")


def test_c_the_digest_unsubscribe_link_asks_first_then_unsubscribes(site, page):
    digest = wait_for_mail(
        site.outbox,
        lambda m: to_address(m) == READER and not m["Subject"].startswith("Confirm"),
    )
    html = digest.get_body(preferencelist=("html",)).get_content()
    text = digest.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    # The reader's sections: World and Opinion chosen at sign-up, Culture added later.
    assert re.findall(r"(?m)^== (.+) ==$", text) == ["WORLD", "OPINION", "CULTURE"], text
    for title in FRESH.values():
        assert re.search(rf"<h2[^>]*><a [^>]*>{re.escape(title)}</a></h2>", html), title
        assert f"\n{title}\n" in text, title
    base = re.escape(site.base)
    assert re.search(rf"{base}/preferences/\S+", text) and f"{site.base}/preferences/" in html
    links = set(re.findall(rf'href="({base}/unsubscribe/[^"]+)"', html))
    assert len(links) == 1, links
    unsubscribe = links.pop()
    assert f"{site.base}/unsubscribe/" in text
    assert f"<{unsubscribe}>" in digest["List-Unsubscribe"]

    page.goto(unsubscribe)
    expect(page.get_by_role("heading", name="Unsubscribe?")).to_be_visible()
    expect(page.get_by_text(READER)).to_be_visible()
    assert subscriber(site, READER)["status"] == "confirmed"  # opening the link did nothing

    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You're unsubscribed")).to_be_visible()
    assert subscriber(site, READER)["status"] == "unsubscribed"
    page.goto(unsubscribe)
    expect(page.get_by_role("heading", name="You're not subscribed")).to_be_visible()
    expect(page.get_by_role("button", name="Unsubscribe")).to_have_count(0)


def held_edition(site: Site, key: str) -> None:
    """An automatic edition the safety hold stopped, as the scheduler leaves it."""
    from publisher.app import open_app
    from publisher.digest.hold import hold_reasons
    from publisher.models import Edition, EditionKind, EditionStatus
    from publisher.pipeline import mailer
    from publisher.settings import load_settings

    app = open_app(load_settings(site.settings))
    try:
        edition = Edition(key=key, kind=EditionKind.DAILY, cutoff=datetime(2030, 1, 1, tzinfo=UTC))
        planned = mailer(app).record(edition, now=datetime.now(UTC))
        reasons = hold_reasons(app.store, planned.edition, app.settings.digest)
        assert reasons, "the edition should look wrong"
        app.store.deliveries.set_status(
            planned.edition.id, EditionStatus.HELD, reason="; ".join(reasons)
        )
    finally:
        app.close()


def test_c2_an_editor_releases_one_held_edition_and_cancels_another(site, page):
    held_edition(site, "daily:2030-01-01")
    held_edition(site, "daily:2030-01-02")
    page.goto("/admin/")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    alerts = page.get_by_role("alert")
    expect(alerts).to_have_count(2)
    expect(alerts.first).to_contain_text("Held for an editor")

    alerts.get_by_role("link", name="daily:2030-01-01").click()
    expect(page.locator("#status")).to_have_text("held")
    expect(page.locator("#decide")).to_contain_text("This automatic send is held: no articles")
    page.get_by_role("button", name="Release the send").click()
    expect(page.locator("#status")).to_have_text("done", timeout=SEND_TIMEOUT)
    expect(page.locator("#decide")).to_have_count(0)

    page.goto("/admin/editions/daily:2030-01-02")
    page.get_by_role("button", name="Cancel the edition").click()
    expect(page.get_by_role("status")).to_contain_text("daily:2030-01-02 is cancelled")
    expect(page.locator("#status")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Release the send")).to_have_count(0)

    page.goto("/admin/")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("#history tr", has_text="daily:2030-01-02")).to_contain_text("cancelled")


def test_d_sigterm_stops_the_service_cleanly(site):
    process = site.running.process
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, site.running.output()
    assert "Traceback" not in site.running.output(), site.running.output()
