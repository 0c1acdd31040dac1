"""Subscribers: validation, CSV import with per-row errors, export round trip, signed tokens."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.errors import UserError
from publisher.models import SubscriberStatus
from publisher.subscribers.csvio import export_csv, import_csv
from publisher.subscribers.tokens import Purpose, Tokens
from publisher.subscribers.validate import new_subscriber
from tests.conftest import run_cli

KNOWN = ["world", "opinion", "culture"]
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789"


def test_new_subscriber_is_validated():
    item = new_subscriber(
        " Ana@Example.COM ", name="Ana\nRuiz", sections="world; opinion", known=KNOWN
    )
    assert item.email == "ana@example.com"
    assert item.name == "Ana Ruiz"
    assert item.sections == ("world", "opinion")
    assert item.status is SubscriberStatus.PENDING
    assert new_subscriber("b@example.com", known=KNOWN).sections == tuple(KNOWN)
    with pytest.raises(UserError, match="invalid email address 'not-an-email'"):
        new_subscriber("not-an-email", known=KNOWN)
    with pytest.raises(UserError, match="unknown section"):
        new_subscriber("c@example.com", sections="sports", known=KNOWN)
    with pytest.raises(UserError, match="frequency 'hourly' is not one of daily, weekly"):
        new_subscriber("c@example.com", frequency="hourly", known=KNOWN)


def test_adding_twice_is_refused(store):
    subscribers = store.subscribers
    subscribers.add(new_subscriber("a@example.com", known=KNOWN), now=NOW)
    with pytest.raises(UserError, match="already subscribed"):
        subscribers.add(new_subscriber("a@example.com", known=KNOWN), now=NOW)


CSV = """email,name,sections
ana@example.com,Ana Ruiz,"world,opinion"
not an email,Bad,world
jun@example.com,Jun Park,sports
lea@example.com,Léa Novak,world;culture
ANA@example.com,Ana again,world
kim@example.com,Kim,world,surplus
old@example.com,Already here,
,No address,world
"""


def test_import_reports_every_bad_row_and_keeps_the_good_ones(store):
    subscribers = store.subscribers
    subscribers.add(new_subscriber("old@example.com", known=KNOWN), now=NOW)
    report = import_csv(io.StringIO(CSV), subscribers, known=KNOWN, confirmed=True, now=NOW)
    assert report.added == 2
    reasons = dict(report.errors)
    assert sorted(reasons) == [3, 4, 6, 7, 8, 9]
    assert "invalid email address 'not an email'" in reasons[3]
    assert "unknown section(s) sports" in reasons[4]
    assert "duplicate of line 2" in reasons[6]
    assert "more fields than the header has" in reasons[7]
    assert "old@example.com is already subscribed" in reasons[8]
    assert "invalid email address ''" in reasons[9]
    lea = subscribers.by_email("lea@example.com")
    assert lea is not None and lea.name == "Léa Novak" and lea.sections == ("world", "culture")
    assert lea.status is SubscriberStatus.CONFIRMED and lea.confirmed_at == NOW


def test_import_without_confirmed_is_pending_and_status_column_wins(store):
    subscribers = store.subscribers
    data = (
        "email,name,sections,status\na@example.com,A,world,\nb@example.com,B,world,unsubscribed\n"
    )
    import_csv(io.StringIO(data), subscribers, known=KNOWN, confirmed=False, now=NOW)
    assert subscribers.by_email("a@example.com").status is SubscriberStatus.PENDING
    assert subscribers.by_email("b@example.com").status is SubscriberStatus.UNSUBSCRIBED


def test_a_file_without_an_email_column_is_refused(store):
    with pytest.raises(UserError, match="'email' column"):
        import_csv(
            io.StringIO("name\nx\n"), store.subscribers, known=KNOWN, confirmed=False, now=NOW
        )


def test_export_then_import_round_trip(store, tmp_path):
    from publisher.store import Store

    source = store.subscribers
    import_csv(io.StringIO(CSV), source, known=KNOWN, confirmed=True, now=NOW)
    source.add(
        new_subscriber("w@example.com", name='Quote "me", please', frequency="weekly", known=KNOWN),
        now=NOW,
    )
    exported = export_csv(source.iter())
    other = Store.open(f"sqlite:///{tmp_path / 'other.db'}")
    target = other.subscribers
    report = import_csv(io.StringIO(exported), target, known=KNOWN, confirmed=False, now=NOW)
    assert report.errors == []
    assert export_csv(target.iter()) == exported
    other.close()


def make_subscriber(store, email="a@example.com"):
    return store.subscribers.add(new_subscriber(email, known=KNOWN), now=NOW)


def test_tokens_work_for_one_subscriber_and_one_purpose_only(store):
    tokens = Tokens(SECRET)
    ana, jun = make_subscriber(store), make_subscriber(store, "jun@example.com")
    token = tokens.make(ana, Purpose.UNSUBSCRIBE)
    assert tokens.verify(token, ana, Purpose.UNSUBSCRIBE)
    assert Tokens.claimed_id(token) == ana.id
    assert not tokens.verify(token, ana, Purpose.PREFERENCES)  # another purpose
    assert not tokens.verify(token, ana, Purpose.CONFIRM)
    assert not tokens.verify(token, jun, Purpose.UNSUBSCRIBE)  # another subscriber
    assert not Tokens("another-secret-key-000000").verify(token, ana, Purpose.UNSUBSCRIBE)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert not tokens.verify(forged, ana, Purpose.UNSUBSCRIBE)
    rotated = ana.__class__(**{**ana.__dict__, "secret": "fresh-secret"})
    assert not tokens.verify(token, rotated, Purpose.UNSUBSCRIBE)
    assert Tokens.claimed_id("garbage") is None
    assert Tokens.claimed_id("²3.x") is None and Tokens.claimed_id("١٢.x") is None
    assert tokens.make(ana, Purpose.UNSUBSCRIBE) == token  # stable: the same link every time


def test_a_short_secret_key_is_refused():
    with pytest.raises(UserError, match="PUBLISHER_SECRET_KEY"):
        Tokens("short")


def test_cli_add_import_list_export_remove(project: Path):
    out = run_cli(
        "subscribers",
        "add",
        "ana@example.com",
        "--name",
        "Ana",
        "--sections",
        "world,opinion",
        cwd=project,
    )
    assert out.returncode == 0, out.stderr
    bad = run_cli("subscribers", "add", "nope", cwd=project)
    assert bad.returncode == 2 and "invalid email address" in bad.stderr
    (project / "list.csv").write_text(CSV.replace("culture", "business"))
    imported = json.loads(
        run_cli("subscribers", "import", "list.csv", "--confirmed", "--json", cwd=project).stdout
    )
    assert imported["added"] == 2 and imported["rejected"] == 6
    assert {e["line"] for e in imported["errors"]} == {2, 3, 4, 6, 7, 9}
    listed = json.loads(run_cli("subscribers", "list", "--json", cwd=project).stdout)
    assert listed["count"] == 3
    assert set(listed["subscribers"][0]) == {
        *("email", "name", "status", "sections", "frequency", "timezone", "hour", "languages")
    }
    exported = run_cli("subscribers", "export", cwd=project).stdout
    header = "email,name,sections,status,frequency,timezone,hour,languages"
    assert exported.splitlines()[0] == header
    removed = run_cli("subscribers", "remove", "Ana@Example.com", "--json", cwd=project)
    assert json.loads(removed.stdout) == {"removed": 1, "email": "ana@example.com"}
    again = run_cli("subscribers", "remove", "ana@example.com", cwd=project)
    assert again.returncode == 2 and "not subscribed" in again.stderr


def test_zone_and_hour_come_in_by_command_and_csv_and_go_out_again(tmp_path):
    from datetime import UTC, datetime

    from publisher.store import Store
    from publisher.subscribers.csvio import export_csv, import_csv

    store = Store.open(f"sqlite:///{tmp_path / 'zones.db'}")
    try:
        rows = (
            "email,sections,timezone,hour,languages\n"
            "a@example.org,world,Asia/Kolkata,06:00,es;fr\n"
            "b@example.org,world,,,\n"
            "c@example.org,world,Mars/Olympus,7,\n"
            "d@example.org,world,Europe/Paris,24,\n"
        )
        report = import_csv(
            io.StringIO(rows),
            store.subscribers,
            known=["world"],
            confirmed=True,
            now=datetime.now(UTC),
        )
        assert report.added == 2
        assert [line for line, _ in report.errors] == [4, 5]
        assert "unknown time zone 'Mars/Olympus'" in report.errors[0][1]
        assert "hour '24' is not an hour" in report.errors[1][1]
        a = store.subscribers.by_email("a@example.org")
        b = store.subscribers.by_email("b@example.org")
        assert (a.timezone, a.hour) == ("Asia/Kolkata", 6) and (b.timezone, b.hour) == (None, None)
        exported = export_csv(store.subscribers.iter())
        assert a.languages == ("es", "fr") and b.languages == ()
        assert "a@example.org,,world,confirmed,daily,Asia/Kolkata,06:00,es;fr" in exported
        again = Store.open(f"sqlite:///{tmp_path / 'again.db'}")
        back = import_csv(
            io.StringIO(exported),
            again.subscribers,
            known=["world"],
            confirmed=False,
            now=datetime.now(UTC),
        )
        assert back.added == 2 and again.subscribers.by_email("a@example.org").hour == 6
        again.close()
    finally:
        store.close()


def test_subscribers_add_takes_a_zone_and_an_hour(project):
    added = run_cli(
        "subscribers",
        "add",
        "z@example.org",
        "--confirmed",
        "--timezone",
        "Asia/Tokyo",
        "--hour",
        "06:00",
        "--json",
        cwd=project,
    )
    assert added.returncode == 0, added.stderr
    found = json.loads(added.stdout)
    assert (found["timezone"], found["hour"]) == ("Asia/Tokyo", 6)
    bad = run_cli("subscribers", "add", "y@example.org", "--timezone", "Asia/Nowhere", cwd=project)
    assert bad.returncode == 2 and "unknown time zone 'Asia/Nowhere'" in bad.stderr


def test_an_import_asks_its_pending_readers_to_confirm_and_reports_who_it_could_not(
    project: Path,
):
    """Imported without --confirmed, readers are pending: each is mailed the request to
    confirm (else they would get nothing, ever); a refused address is reported by name and
    the others go on."""
    from tests.smtp_server import Faults, smtp_server

    refused = "jun@example.com"
    rows = "email,name,sections,status\nana@example.com,Ana,world,\njun@example.com,Jun,world,\n"
    # A row that says `pending` (an export's) was asked where it came from: not again.
    rows += "lea@example.com,Léa,opinion,\nold@example.com,Old,world,pending\n"
    (project / "list.csv").write_text(rows)
    with smtp_server(Faults(bounce=lambda address: address == refused)) as (port, mailbox):
        settings = (project / "settings.toml").read_text()
        settings = settings.replace('transport = "outbox"', 'transport = "smtp"')
        (project / "settings.toml").write_text(settings.replace("port = 25", f"port = {port}"))
        done = run_cli("subscribers", "import", "list.csv", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["added"], report["pending"], report["confirmations_sent"]) == (4, 3, 2)
    [failed] = report["confirmations_failed"]
    assert failed["email"] == refused and "550" in failed["reason"]
    asked = {item.recipient for item in mailbox.received}
    assert asked == {"ana@example.com", "lea@example.com"}
    assert all(b"/confirm/" in item.data for item in mailbox.received)
    (project / "more.csv").write_text("email,name,sections\nkim@example.com,Kim,world\n")
    quiet = run_cli(
        "subscribers", "import", "more.csv", "--no-confirmation-mail", "--json", cwd=project
    )
    report = json.loads(quiet.stdout)  # the server is gone: any attempt would have failed
    assert (report["pending"], report["confirmations_sent"], report["confirmations_failed"]) == (
        1,
        0,
        [],
    )
    # The server gone: the first failure stops the mailing, and everyone not asked is named.
    rows = "email,name,sections\nx@example.com,X,world\ny@example.com,Y,world\n"
    (project / "last.csv").write_text(rows)
    down = run_cli("subscribers", "import", "last.csv", cwd=project)
    assert down.returncode == 0 and "imported 2, rejected 0" in down.stdout
    assert "asked 0 of 2 pending to confirm" in down.stdout
    assert "x@example.com: not asked (smtp://127.0.0.1:" in down.stderr
    assert "y@example.com: not asked (not tried after: smtp://127.0.0.1:" in down.stderr
