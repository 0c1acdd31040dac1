"""Delivery against a real SMTP server on 127.0.0.1 that fails the way real servers do:
each confirmed reader gets the edition once, bounces are final, temporary failures are tried
again, and nobody else is ever mailed."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import dkim
import pytest
from sqlalchemy import select

from publisher.app import App
from publisher.delivery.budget import ErrorBudget
from publisher.delivery.send import begin, send_test, subscribe
from publisher.delivery.transports import Outgoing, RecipientRefused, build_transport
from publisher.delivery.transports.outbox import OutboxTransport
from publisher.digest.editions import new_edition
from publisher.digest.notices import Notices
from publisher.models import (
    DeliveryState,
    EditionKind,
    EditionStatus,
    Frequency,
    PlannedEdition,
    SubscriberStatus,
)
from publisher.pipeline import deliverer, mailer
from publisher.settings import secret_key
from publisher.store.schema import deliveries, leases
from publisher.store.subscribers import NewSubscriber
from publisher.subscribers.tokens import Purpose, Tokens
from tests.conftest import base_settings
from tests.helpers import article, put_articles
from tests.smtp_server import Faults, smtp_server

SECTIONS = ("world", "culture", "business")
SECRET = "delivery-test-secret-0123456789"


def settings_for(port: int, **delivery: Any) -> dict[str, Any]:
    """Three sections, no related links, mail to the test server; fast retries."""
    smtp = {"host": "127.0.0.1", "port": port, "connections": 4, "timeout": 2}
    smtp.update(delivery.pop("smtp", {}))
    return base_settings(
        sections=[{"slug": s, "title": s.title(), "sources": []} for s in SECTIONS],
        digest={"related_links": 0, "sender": "TodayPress <digest@todaypress.example>"},
        delivery={
            "transport": "smtp",
            "retries": 8,
            "retry_seconds": 0.01,
            "batch": 50,
            "error_ratio": 1.0,
            "smtp": smtp,
            **delivery,
        },
    )


def fill(app: App, readers: int, status: Callable[[int], SubscriberStatus] | None = None) -> None:
    """Fresh articles in every section, and `readers` daily readers of one to three sections."""
    now = datetime.now(UTC)
    stories = [
        article(n, s, published=now - timedelta(hours=n), updated=now - timedelta(hours=n))
        for s in SECTIONS
        for n in range(1, 4)
    ]
    put_articles(app.store, stories, now=now - timedelta(minutes=5))
    people = (
        NewSubscriber(
            email=f"reader{n}@example.com",
            name=f"Reader {n}",
            sections=SECTIONS[: 1 + n % 3],
            frequency=Frequency.DAILY,
            status=status(n) if status else SubscriberStatus.CONFIRMED,
        )
        for n in range(readers)
    )
    app.store.subscribers.add_many(people, now=now - timedelta(days=10))


def plan_and_begin(app: App) -> PlannedEdition:
    now = datetime.now(UTC)
    planned = mailer(app).record(new_edition(EditionKind.DAILY, now, UTC), now=now)
    begin(app.store.deliveries, planned)
    return planned


def deliver(app: App, planned: PlannedEdition, **run: Any) -> Any:
    transport = build_transport(app.settings)
    try:
        assert planned.edition.id is not None
        return deliverer(app, transport).run(edition_id=planned.edition.id, **run)
    finally:
        transport.close()


def rows(app: App) -> list[Any]:
    with app.store.db.reading() as conn:
        return list(conn.execute(select(deliveries).order_by(deliveries.c.id)))


def status_of(n: int) -> SubscriberStatus:
    """Every 10th reader pending, every 10th+1 unsubscribed, every 10th+2 bounced before."""
    return {
        0: SubscriberStatus.PENDING,
        1: SubscriberStatus.UNSUBSCRIBED,
        2: SubscriberStatus.BOUNCED,
    }.get(n % 10, SubscriberStatus.CONFIRMED)


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "one-by-one"])
def test_every_confirmed_reader_gets_the_edition_once_through_faults(make_app, pipelining):
    bounces = {f"reader{n}@example.com" for n in (13, 27, 44, 58)}
    faults = Faults(
        seed=7,
        temporary=0.08,
        closing=0.04,
        drop=0.04,
        bounce=lambda address: address in bounces,
        slow=0.002,
    )
    with smtp_server(faults, pipelining=pipelining) as (port, mailbox):
        app = make_app(settings_for(port))
        fill(app, 200, status_of)
        planned = plan_and_begin(app)
        report = deliver(app, planned)
    confirmed = {f"reader{n}@example.com" for n in range(200) if status_of(n).value == "confirmed"}
    assert planned.deliveries == len(confirmed)  # planned for confirmed readers only
    received = mailbox.counts()
    assert set(received) == confirmed - bounces  # nobody else, nobody missing
    assert set(received.values()) == {1}  # exactly once
    # Every fault happened, and each was handled as what it is.
    assert {"451", "421", "550", "000"} <= set(mailbox.refused)
    found = rows(app)
    by_state: dict[str, int] = {}
    for row in found:
        by_state[row.state] = by_state.get(row.state, 0) + 1
    assert by_state == {"sent": len(confirmed) - 4, "bounced": 4}
    assert any(row.state == "sent" and row.attempts > 1 for row in found)  # went out later
    for row in found:
        if row.state == "bounced":  # never tried again after the 550: one RCPT in all
            assert "550 5.1.1" in row.last_error
            assert mailbox.attempts[app.store.subscribers.by_id(row.subscriber_id).email] == 1
    suppressed = {s.email for s in app.store.subscribers.iter(status=SubscriberStatus.BOUNCED)}
    assert bounces <= suppressed
    assert report.paused == {} and app.store.deliveries.status(planned.edition.id)[0] == (
        EditionStatus.DONE
    )
    # Each message is the reader's own: the Message-ID planned for their row.
    ids = {row.message_id for row in found if row.state == "sent"}
    assert {item.message_id for item in mailbox.received} == ids


def test_the_rate_holds_for_every_sender_together(make_app, monkeypatch):
    """`delivery.smtp.rate` is the rate in all: two senders at once (two `worker` processes,
    say) count each other through the database and each take half of it. The count is
    renewed while a sender waits for a slow send, so a place never lapses between sends."""
    from publisher.delivery import deliver as loop

    # Counted every 0.05 s, a place lasts 0.5 s: shorter than the second each sender now
    # waits between its sends.
    monkeypatch.setattr(loop, "_SHARE", 0.05)
    with smtp_server() as (port, mailbox):
        app = make_app(settings_for(port, batch=2, smtp={"rate": 2, "connections": 2}))
        fill(app, 12)
        planned = plan_and_begin(app)
        reports: list[Any] = []
        senders = [threading.Thread(target=lambda: reports.append(deliver(app, planned)))]
        senders.append(threading.Thread(target=lambda: reports.append(deliver(app, planned))))
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
    assert len(reports) == 2  # neither sender died
    assert sum(mailbox.counts().values()) == planned.deliveries == 12
    assert all(report.count(DeliveryState.SENT) >= 3 for report in reports)  # both sent
    times = sorted(item.at for item in mailbox.received)
    # 12 messages at 2 a second in all: 5.5 s from the first to the last; at 2 each, 2.75 s.
    assert times[-1] - times[0] >= 4.6, times[-1] - times[0]
    with app.store.db.reading() as conn:
        places = conn.execute(select(leases.c.name).where(leases.c.name.like("sender:%")))
        assert places.all() == []  # each gave its place back when it finished


def test_a_reader_who_left_after_planning_is_not_mailed(make_app):
    with smtp_server() as (port, mailbox):
        app = make_app(settings_for(port))
        fill(app, 12)
        planned = plan_and_begin(app)
        reader = app.store.subscribers.by_email("reader3@example.com")
        now = datetime.now(UTC)
        app.store.subscribers.set_status(reader.id, SubscriberStatus.UNSUBSCRIBED, now=now)
        deliver(app, planned)
    assert "reader3@example.com" not in mailbox.counts()
    assert len(mailbox.counts()) == 11
    left = [row for row in rows(app) if row.state == "suppressed"]
    assert len(left) == 1 and "unsubscribed" in left[0].last_error


def test_a_silent_server_times_out_and_the_message_goes_on_a_later_attempt(make_app):
    def silent(address: str, attempt: int) -> float:
        return 1.5 if address == "reader5@example.com" and attempt == 1 else 0.0

    with smtp_server(Faults(silent=silent)) as (port, mailbox):
        app = make_app(settings_for(port, smtp={"timeout": 0.5}))
        fill(app, 10)
        planned = plan_and_begin(app)
        deliver(app, planned)
    assert mailbox.counts()["reader5@example.com"] == 1 and len(mailbox.counts()) == 10
    assert mailbox.attempts["reader5@example.com"] == 2
    reader = app.store.subscribers.by_email("reader5@example.com")
    [row] = [r for r in rows(app) if r.subscriber_id == reader.id]
    assert row.state == "sent" and row.attempts == 2 and "connection lost" in row.last_error


def test_deferred_rows_wait_for_their_time_and_give_up_after_the_last_attempt(make_app):
    faults = Faults(temporary=1.0)  # this server never takes anything
    with smtp_server(faults) as (port, mailbox):
        app = make_app(settings_for(port, retries=2, retry_seconds=0.05))
        fill(app, 3)
        planned = plan_and_begin(app)
        started = datetime.now(UTC)
        deliver(app, planned)
        took = (datetime.now(UTC) - started).total_seconds()
    found = rows(app)
    assert [row.state for row in found] == ["failed"] * 3
    assert all(row.attempts == 3 and "gave up after 3 attempts" in row.last_error for row in found)
    assert took >= 0.05 + 0.1  # waited 0.05 s, then 0.1 s (backoff doubles)
    assert mailbox.counts() == {}


def test_too_many_errors_pause_the_send_and_a_later_send_resumes_it(make_app):
    bouncing = {f"reader{n}@example.com" for n in range(0, 60, 2)}
    with smtp_server(Faults(bounce=lambda a: a in bouncing)) as (port, mailbox):
        raw = settings_for(port, error_window=20, error_ratio=0.25, batch=10)
        raw["delivery"]["smtp"]["connections"] = 1
        app = make_app(raw)
        fill(app, 60)
        planned = plan_and_begin(app)
        first = deliver(app, planned)
        status, reason = app.store.deliveries.status(planned.edition.id)
        assert status is EditionStatus.PAUSED and first.paused
        assert "errors in the last" in reason and "550" in reason and "\n" not in reason
        handled = sum(first.states.values())
        assert 10 <= handled < 60  # paused before the end
        states = app.store.deliveries.counts(planned.edition.id)
        assert states[DeliveryState.SENDING] == 0  # claimed rows were given back
        # A later send resumes from where it stopped (the budget starts afresh).
        raw["delivery"]["error_ratio"] = 1.0
        app2 = make_app(raw)
        assert begin(app2.store.deliveries, planned) is EditionStatus.SENDING
        deliver(app2, planned)
    counts = mailbox.counts()
    assert set(counts) == {f"reader{n}@example.com" for n in range(60)} - bouncing
    assert set(counts.values()) == {1}


def test_a_stop_finishes_messages_in_flight_and_gives_back_the_rest(make_app):
    import threading

    with smtp_server(Faults(slow=0.05)) as (port, mailbox):
        app = make_app(settings_for(port))
        fill(app, 40)
        planned = plan_and_begin(app)
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        report = deliver(app, planned, stop=stop)
        assert report.stopped
        states = app.store.deliveries.counts(planned.edition.id)
        assert states[DeliveryState.SENDING] == 0  # nothing left leased
        assert states[DeliveryState.SENT] == len(mailbox.counts()) < 40
        assert states[DeliveryState.QUEUED] == 40 - states[DeliveryState.SENT]
        deliver(app, planned)  # resumes: queued rows are ready at once
    assert len(mailbox.counts()) == 40 and set(mailbox.counts().values()) == {1}


def test_test_send_prefixes_the_subject_and_marks_nothing(make_app):
    with smtp_server() as (port, mailbox):
        app = make_app(settings_for(port))
        fill(app, 3)
        now = datetime.now(UTC)
        edition = new_edition(EditionKind.DAILY, now, UTC)
        planned = PlannedEdition(
            edition=edition, variants=0, deliveries=0, skipped=0, created=False
        )
        transport = build_transport(app.settings)
        subject = send_test(mailer(app), transport, planned, "editor@example.org", now=now)
        transport.close()
    assert subject.startswith("[TEST] ")
    [got] = mailbox.received
    parsed = message_from_bytes(got.data, policy=policy.default)
    assert got.recipient == "editor@example.org" and parsed["Subject"] == subject
    assert rows(app) == [] and app.store.editions.get(edition.key) is None


def test_subscribing_sends_the_confirmation_link_and_again_when_pending(make_app):
    with smtp_server() as (port, mailbox):
        app = make_app(settings_for(port))
        notices = Notices(app.settings)
        transport = build_transport(app.settings)
        new = NewSubscriber(
            email="ana@example.com",
            name="Ana",
            sections=("world",),
            frequency=Frequency.DAILY,
            status=SubscriberStatus.PENDING,
        )
        now = datetime.now(UTC)
        first = subscribe(app.store.subscribers, notices, transport, new, now=now)
        again = subscribe(app.store.subscribers, notices, transport, new, now=now)
        transport.close()
    assert first.created and not again.created
    assert len(mailbox.received) == 2
    parsed = message_from_bytes(mailbox.received[0].data, policy=policy.default)
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    token = text.split("/confirm/", 1)[1].split()[0]
    tokens = Tokens(secret_key(app.settings))
    assert tokens.verify(token, first.subscriber, Purpose.CONFIRM)
    assert f"/confirm/{token}" in html and 'style="' in html  # the CSS inlined
    assert parsed["To"] == "Ana <ana@example.com>" and "Confirm" in parsed["Subject"]


def test_the_outbox_writes_each_message_once_and_whole(tmp_path: Path):
    outbox = OutboxTransport(tmp_path / "outbox")
    message = Outgoing(
        sender="a@example.org", recipient="b@example.org", data=b"x" * 10, message_id="<1@x>"
    )
    outbox.send(message)
    outbox.send(message)  # again, as after a crash: the same file
    [written] = list((tmp_path / "outbox").iterdir())
    assert written.read_bytes() == b"x" * 10 and written.suffix == ".eml"
    assert not list((tmp_path / "outbox").glob(".*"))  # no temporary file left


def test_outbox_is_the_default_and_delivers_the_edition(make_app, tmp_path: Path):
    raw = settings_for(1)
    raw["delivery"] = {"outbox": {"path": "var/outbox"}}
    app = make_app(raw)
    fill(app, 5)
    planned = plan_and_begin(app)
    deliver(app, planned)
    files = sorted((tmp_path / "var" / "outbox").glob("*.eml"))
    assert len(files) == 5
    assert app.store.deliveries.counts(planned.edition.id)[DeliveryState.SENT] == 5


@pytest.fixture
def dkim_key(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """An RSA key pair: (private PEM, the DNS TXT record's public key)."""
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    import base64

    yield key.read_text(), base64.b64encode(public)


def test_dkim_signatures_verify(make_app, dkim_key, monkeypatch):
    private, public = dkim_key
    monkeypatch.setenv("PUBLISHER_DKIM_KEY", private.replace("\n", "\\n"))  # as one env line
    with smtp_server() as (port, mailbox):
        raw = settings_for(port, dkim={"domain": "todaypress.example", "selector": "mail"})
        app = make_app(raw)
        fill(app, 3)
        planned = plan_and_begin(app)
        deliver(app, planned)
    assert len(mailbox.received) == 3

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"mail._domainkey.todaypress.example."
        return b"v=DKIM1; k=rsa; p=" + public

    for item in mailbox.received:
        assert item.data.startswith(b"DKIM-Signature:")
        assert dkim.verify(item.data, dnsfunc=dns)
        assert not dkim.verify(item.data.replace(b"Reader", b"Raider", 1), dnsfunc=dns)


def test_a_refused_recipient_is_a_bounce_and_the_connection_is_reused(make_app):
    with smtp_server(Faults(bounce=lambda a: a.startswith("no"))) as (port, mailbox):
        app = make_app(settings_for(port))
        transport = build_transport(app.settings)
        for n, name in enumerate(["no1", "yes1", "no2", "yes2"]):
            message = Outgoing(
                sender="digest@todaypress.example",
                recipient=f"{name}@example.com",
                data=f"Message-ID: <{n}@x>\r\n\r\nhello\r\n".encode(),
                message_id=f"<{n}@x>",
            )
            if name.startswith("no"):
                with pytest.raises(RecipientRefused, match="550"):
                    transport.send(message)
            else:
                transport.send(message)
        transport.close()
    assert len(mailbox.received) == 2 and mailbox.connections == 1


def test_the_error_budget_counts_against_the_whole_window():
    budget = ErrorBudget(window=100, ratio=0.1)
    assert not any(budget.add(failed=True, error="RCPT for a@x: 550 no") for _ in range(10))
    assert budget.add(failed=True, error="RCPT for b@x: 550 no")  # the 11th of 100
    assert "11 errors" in budget.reason() and "RCPT: 550 no" in budget.reason()
    calm = ErrorBudget(window=10, ratio=0.2)
    for n in range(100):  # one error in five: never more than two in any ten
        assert not calm.add(failed=n % 5 == 0)


def test_rows_in_flight_when_a_sender_died_are_sent_after_their_lease(make_app):
    with smtp_server() as (port, mailbox):
        app = make_app(settings_for(port, lease_seconds=0.5))
        fill(app, 6)
        planned = plan_and_begin(app)
        now = datetime.now(UTC)
        claimed = app.store.deliveries.claim(
            owner="dead", limit=4, lease_until=now + timedelta(seconds=0.5), now=now
        )
        assert len(claimed) == 4
        deliver(app, planned)  # waits for the dead sender's lease, then sends its rows
    assert len(mailbox.counts()) == 6
    assert all(row.state == "sent" and row.attempts == 1 for row in rows(app))


def test_a_policy_refusal_fails_the_message_but_does_not_suppress_the_reader(make_app):
    blocked = {"reader2@example.com"}
    with smtp_server(Faults(blocked=lambda a: a in blocked)) as (port, mailbox):
        app = make_app(settings_for(port))
        fill(app, 4)
        planned = plan_and_begin(app)
        deliver(app, planned)
    reader = app.store.subscribers.by_email("reader2@example.com")
    [row] = [r for r in rows(app) if r.subscriber_id == reader.id]
    assert row.state == "failed" and "5.7.1" in row.last_error
    assert reader.status is SubscriberStatus.CONFIRMED  # blocked is not a dead address
    assert len(mailbox.counts()) == 3


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1, trusted by this process's TLS clients
    (SSL_CERT_FILE, which OpenSSL's default verify paths read); the server's context."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_login(make_app, certificate, security, monkeypatch):
    monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", "s3cret")
    implicit = security == "tls"
    server = smtp_server(tls=certificate, implicit_tls=implicit, login=("news", "s3cret"))
    with server as (port, mailbox):
        app = make_app(settings_for(port, smtp={"security": security, "username": "news"}))
        fill(app, 5)
        planned = plan_and_begin(app)
        deliver(app, planned)
    assert len(mailbox.counts()) == 5


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_refused_login_defers_pauses_and_loses_nothing(make_app, monkeypatch):
    monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", "wrong")
    with smtp_server(login=("news", "right")) as (port, mailbox):
        raw = settings_for(port, smtp={"username": "news"}, error_window=10, error_ratio=0.3)
        app = make_app(raw)
        fill(app, 20)
        planned = plan_and_begin(app)
        deliver(app, planned)
        status, reason = app.store.deliveries.status(planned.edition.id)
        assert status is EditionStatus.PAUSED and "login refused (535)" in reason
        assert {r.state for r in rows(app)} <= {"deferred", "queued"}  # nothing failed
        monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", "right")
        fixed = make_app(raw)
        begin(fixed.store.deliveries, planned)
        deliver(fixed, planned)
    assert len(mailbox.counts()) == 20


def test_mail_with_plain_http_links_is_warned_about_once(caplog):
    """One-click unsubscribe needs an HTTPS link (RFC 8058): real mail over SMTP with an
    http:// public address is logged once; a loopback address (tests, a laptop) is not."""
    from publisher.delivery.transports import _warn_unless_https
    from publisher.settings import settings_from_dict

    def smtp_with(url: str) -> Any:
        raw = settings_for(2525)
        raw["web"] = {"public_url": url}
        return build_transport(settings_from_dict(raw))

    _warn_unless_https.cache_clear()
    for url in ("http://news.example", "http://news.example", "https://news.example"):
        smtp_with(url).close()
    smtp_with("http://127.0.0.1:8080").close()
    warned = [r.getMessage() for r in caplog.records if "not HTTPS" in r.getMessage()]
    assert warned == [
        "web.public_url is http://news.example: the digest's unsubscribe links are not HTTPS, "
        "so one-click unsubscribe (RFC 8058) may not be offered by Gmail or Yahoo; serve the "
        "pages over HTTPS and set web.public_url"
    ]
