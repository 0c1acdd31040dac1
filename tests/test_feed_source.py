"""The feed source against a real HTTP server: RSS, Atom, conditional GET, errors."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import FIXTURES, Reply, base_settings
from tests.helpers import counts, run_gather

RSS = (FIXTURES / "upstream.rss.xml").read_bytes()
ATOM = (FIXTURES / "upstream.atom.xml").read_bytes()


def feed_settings(*urls: str) -> dict:
    return base_settings(
        sections=[
            {
                "slug": "world",
                "title": "World",
                "sources": [{"type": "feed", "url": url} for url in urls],
            }
        ]
    )


def test_rss_entries_are_stored_and_bad_entries_named(make_app, http_server):
    http_server.routes["/rss"] = Reply(RSS, headers={"Content-Type": "application/rss+xml"})
    app = make_app(feed_settings(f"{http_server.url}/rss"))
    report = run_gather(app)
    assert counts(report, "world") == {"new": 3, "updated": 0, "unchanged": 0, "rejected": 1}
    reasons = {e["where"]: e["reason"] for e in report.sections["world"].errors}
    assert reasons == {
        "https://wire.example/news/bad-date": "cannot parse date 'sometime last week'",
    }
    # An item without a title is titled with the first words of its description.
    [untitled] = [a for a in app.store.articles.newest() if a.url.endswith("/untitled")]
    assert untitled.title == "No title at all."
    ferry = app.store.articles.get("wire-1001")
    assert ferry is not None
    assert ferry.url == "https://wire.example/news/ferry-resumes"
    assert ferry.published == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert ferry.authors == ("Ana Ruiz",)
    assert ferry.tags == ("transport", "weather")
    assert ferry.image == "https://wire.example/img/ferry-large.jpg"
    # RSS has no xml:base: relative links resolve against the feed document's URL.
    assert f'href="{http_server.url}/news/storm"' in ferry.content
    assert "script" not in ferry.content and "onerror" not in ferry.content
    harvest = app.store.articles.get("https://wire.example/news/harvest")
    assert harvest is not None and harvest.summary == "Record crowds came."


def test_atom_entries_with_relative_links_and_several_authors(make_app, http_server):
    http_server.routes["/atom"] = Reply(ATOM, headers={"Content-Type": "application/atom+xml"})
    app = make_app(feed_settings(f"{http_server.url}/atom"))
    assert counts(run_gather(app), "world")["new"] == 2
    tram = app.store.articles.get("tag:agency.example,2026:tram")
    assert tram is not None
    assert tram.url == "https://agency.example/2026/tram"
    assert tram.authors == ("Jun Park", "Lea Novak")
    assert tram.published == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert tram.updated == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert tram.image == "https://agency.example/img/tram.jpg"
    assert 'href="https://agency.example/maps/tram.pdf"' in tram.content
    assert "javascript" not in tram.content
    glacier = app.store.articles.get("tag:agency.example,2026:glacier")
    assert glacier is not None and glacier.published == glacier.updated


def test_etag_gives_a_conditional_get_and_304_changes_nothing(make_app, http_server):
    http_server.routes["/rss"] = Reply(
        RSS, headers={"ETag": '"v1"', "Last-Modified": "Tue, 24 Nov 2026 08:00:00 GMT"}
    )
    app = make_app(feed_settings(f"{http_server.url}/rss"))
    run_gather(app)
    report = run_gather(app)
    # Only the accepted items count as unchanged; the source is reported as not modified.
    assert counts(report, "world") == {"new": 0, "updated": 0, "unchanged": 3, "rejected": 0}
    assert report.as_json()["not_modified"] == [
        {"section": "world", "source": f"world:feed:{http_server.url}/rss"}
    ]
    second = http_server.hits("/rss")[1]
    assert second.headers["if-none-match"] == '"v1"'
    assert second.headers["if-modified-since"] == "Tue, 24 Nov 2026 08:00:00 GMT"


def test_changed_feed_updates_in_place(make_app, http_server):
    http_server.routes["/rss"] = Reply(RSS)
    app = make_app(feed_settings(f"{http_server.url}/rss"))
    run_gather(app)
    assert counts(run_gather(app), "world") == {
        "new": 0,
        "updated": 0,
        "unchanged": 3,
        "rejected": 1,
    }
    http_server.routes["/rss"] = Reply(RSS.replace(b"Ferry service resumes", b"Ferry service back"))
    assert counts(run_gather(app), "world") == {
        "new": 0,
        "updated": 1,
        "unchanged": 2,
        "rejected": 1,
    }
    ferry = app.store.articles.get("wire-1001")
    assert ferry is not None and ferry.title == "Ferry service back after storm"


def test_server_error_and_garbage_are_source_errors_and_other_sources_go_on(make_app, http_server):
    http_server.routes["/broken"] = Reply(b"oops", status=500)
    http_server.routes["/garbage"] = Reply(
        b"\x00\x01 this is not xml at all {", headers={"Content-Type": "text/html"}
    )
    http_server.routes["/atom"] = Reply(ATOM)
    urls = [f"{http_server.url}/{p}" for p in ("broken", "garbage", "atom")]
    app = make_app(feed_settings(*urls))
    report = run_gather(app)
    assert counts(report, "world")["new"] == 2
    errors = report.sections["world"].errors
    assert errors[0] == {"where": urls[0], "reason": "HTTP 500"}
    assert errors[1]["where"] == urls[1]
    assert errors[1]["reason"].startswith("not an RSS or Atom feed")


def test_unreachable_and_slow_feeds_time_out_with_the_url(make_app, http_server):
    http_server.routes["/slow"] = Reply(RSS, delay=2)
    slow = f"{http_server.url}/slow"
    raw = feed_settings(slow, "http://127.0.0.1:9/nothing-listens")
    raw["gather"] = {"http_timeout": 0.5}
    app = make_app(raw)
    report = run_gather(app)
    errors = report.sections["world"].errors
    assert errors[0]["where"] == slow and "timed out" in errors[0]["reason"]
    assert errors[1]["where"] == "http://127.0.0.1:9/nothing-listens"
    assert app.store.articles.count() == 0


def test_an_oversized_entry_is_rejected(make_app, http_server):
    huge = RSS.replace(b"Ferries ran again <a", b"Ferries " + b"x" * 2_000_000 + b" <a")
    http_server.routes["/rss"] = Reply(huge)
    app = make_app(feed_settings(f"{http_server.url}/rss"))
    report = run_gather(app)
    assert counts(report, "world") == {"new": 2, "updated": 0, "unchanged": 0, "rejected": 2}
    reasons = {e["where"]: e["reason"] for e in report.sections["world"].errors}
    assert "over the limit" in reasons["https://wire.example/news/ferry-resumes"]
