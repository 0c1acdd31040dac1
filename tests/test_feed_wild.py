"""Upstream feeds as they are in the wild: odd and hostile feeds served by a real HTTP server.

Each test gathers feeds, checks what was stored or rejected (and why), then writes the output
feeds and checks them: Atom against the RFC 4287 schema, RSS and Atom through feedparser with
bozo == 0, JSON Feed 1.1, and every link, guid and id a URI (RFC 3986 syntax).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from lxml import etree
from rfc3986_validator import validate_rfc3986

from publisher.feeds.write import publish_feeds
from publisher.gather import gather
from tests.conftest import Reply, base_settings
from tests.test_feeds import assert_valid

RSS_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Wire</title>'
    "<link>https://wire.example/</link><description>Upstream</description>"
)
RSS_TAIL = "</channel></rss>"
ATOM_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
    "<title>Agency</title><id>urn:agency:feed</id><updated>2026-11-25T10:00:00Z</updated>"
)
ATOM_TAIL = "</feed>"
DATE = "<pubDate>Tue, 24 Nov 2026 08:00:00 +0000</pubDate>"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def rss(*items: str) -> bytes:
    return (RSS_HEAD + "".join(f"<item>{item}</item>" for item in items) + RSS_TAIL).encode()


def atom(*entries: str) -> bytes:
    return (ATOM_HEAD + "".join(f"<entry>{e}</entry>" for e in entries) + ATOM_TAIL).encode()


def gathered(make_app, http_server, feeds: dict[str, bytes | Reply], **gather_settings):
    """Serve each feed at its path, gather them all into section `world`, return app + report."""
    for path, body in feeds.items():
        http_server.routes[path] = body if isinstance(body, Reply) else Reply(body)
    sources = [{"type": "feed", "url": f"{http_server.url}{path}"} for path in feeds]
    raw = base_settings(sections=[{"slug": "world", "title": "World", "sources": sources}])
    raw["gather"] = {"http_timeout": 2, **gather_settings}
    app = make_app(raw)
    return app, gather(app.store.articles, app.section_sources(), settings=app.settings.gather)


def stored(app) -> dict[str, object]:
    """Stored articles by URL."""
    return {article.url: article for article in app.store.articles.newest()}


def errors(report) -> dict[str, str]:
    return {e["where"]: e["reason"] for e in report.sections["world"].errors}


def publish_valid(app, tmp_path: Path, schema: etree.RelaxNG) -> Path:
    """Write the feeds and check every file; return the feeds folder."""
    report = publish_feeds(app.settings, app.store.articles, now=NOW)
    assert report.failed == []
    folder = tmp_path / "feeds"
    assert_valid(folder, schema)
    for path in folder.glob("*.rss.xml"):
        channel = etree.parse(str(path)).getroot().find("channel")
        for item in channel.iter("item"):
            assert validate_rfc3986(item.findtext("link"), rule="URI"), item.findtext("link")
            guid = item.find("guid")
            if guid.get("isPermaLink") == "true":
                assert validate_rfc3986(guid.text, rule="URI"), guid.text
    namespace = "{http://www.w3.org/2005/Atom}"
    for path in folder.glob("*.atom.xml"):
        for entry in etree.parse(str(path)).getroot().iter(f"{namespace}entry"):
            entry_id = entry.findtext(f"{namespace}id")
            assert validate_rfc3986(entry_id, rule="URI"), entry_id
            for link in entry.iter(f"{namespace}link"):
                assert validate_rfc3986(link.get("href"), rule="URI"), link.get("href")
    return folder


def test_markup_only_and_entity_only_titles(make_app, http_server, tmp_path, atom_schema):
    feed = atom(
        '<title type="html">&lt;img src="x" onclick="steal()"&gt;</title>'
        "<id>https://agency.example/a</id><link href='https://agency.example/a'/>"
        "<updated>2026-11-25T08:00:00Z</updated><summary>Tram line opens to the harbour</summary>",
        '<title type="html">&amp;nbsp;</title><id>https://agency.example/b</id>'
        "<updated>2026-11-25T08:00:00Z</updated><summary>Glacier retreat measured</summary>",
        '<title type="html"> </title><id>https://agency.example/c</id>'
        "<updated>2026-11-25T08:00:00Z</updated>",
    )
    plain = rss(
        f"<title>&amp;lt;a</title><link>https://wire.example/lt</link>{DATE}",
        f"<title>&lt;b&gt;&lt;/b&gt;</title><link>https://wire.example/empty</link>{DATE}"
        "<description>Harbour cranes stand idle</description>",
    )
    app, report = gathered(make_app, http_server, {"/atom": feed, "/rss": plain})
    articles = stored(app)
    # Nothing left once the markup is gone: the summary's first words stand in.
    assert articles["https://agency.example/a"].title == "Tram line opens to the harbour"
    assert articles["https://agency.example/b"].title == "Glacier retreat measured"
    # HTML "&lt;a" is the text "<a", kept as text.
    assert articles["https://wire.example/lt"].title == "<a"
    assert articles["https://wire.example/empty"].title == "Harbour cranes stand idle"
    assert errors(report) == {
        "https://agency.example/c": "entry has neither a title nor a description"
    }
    assert all(a.title for a in articles.values())
    publish_valid(app, tmp_path, atom_schema)


def test_text_that_looks_like_markup_stays_text(make_app, http_server, tmp_path, atom_schema):
    plain = rss(
        "<title>Blink</title><link>https://wire.example/blink</link>"
        f"{DATE}<description>History of the &amp;lt;blink&amp;gt; tag</description>",
        "<title>Code</title><link>https://wire.example/code</link>"
        f"{DATE}<description>Try &amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt; "
        "now</description>",
    )
    feed = atom(
        "<title>Zero</title><id>https://agency.example/zero</id>"
        "<updated>2026-11-25T08:00:00Z</updated>"
        '<summary type="text">Escape &amp;#0 and &lt;b&gt; in text</summary>'
    )
    app, report = gathered(make_app, http_server, {"/rss": plain, "/atom": feed})
    assert errors(report) == {}
    articles = stored(app)
    assert articles["https://wire.example/blink"].summary == "History of the <blink> tag"
    code = articles["https://wire.example/code"]
    assert code.summary == "Try <script>alert(1)</script> now"
    assert "<script>" not in code.content and "&lt;script&gt;" in code.content
    # Decoded once, as written: no U+FFFD from decoding "&#0" a second time.
    zero = articles["https://agency.example/zero"]
    assert zero.summary == "Escape &#0 and <b> in text"
    assert "\ufffd" not in zero.summary + zero.content
    assert zero.content == "<p>Escape &amp;#0 and &lt;b&gt; in text</p>"
    folder = publish_valid(app, tmp_path, atom_schema)
    # RSS <description> is HTML to readers: the text arrives there escaped.
    channel = etree.parse(str(folder / "world.rss.xml")).getroot().find("channel")
    descriptions = {i.findtext("link"): i.findtext("description") for i in channel.iter("item")}
    assert descriptions["https://wire.example/blink"] == "History of the &lt;blink&gt; tag"
    assert "<script>" not in descriptions["https://wire.example/code"]
    parsed = feedparser.parse((folder / "world.rss.xml").read_bytes())
    by_link = {e.link: e for e in parsed.entries}
    assert by_link["https://wire.example/blink"].summary == "History of the &lt;blink&gt; tag"
    # Atom <summary> is type text: the text is written as it is.
    assert (
        b"<summary>History of the &lt;blink&gt; tag</summary>"
        in (folder / "world.atom.xml").read_bytes()
    )
    items = json.loads((folder / "world.json").read_text())["items"]
    assert {i["summary"] for i in items} >= {"History of the <blink> tag"}


def test_iris_and_spaces_become_uris(make_app, http_server, tmp_path, atom_schema):
    plain = rss(
        "<title>Chinese host</title><link>http://www.詹姆斯.com/新闻/报道 1</link>"
        f"<guid>http://www.詹姆斯.com/新闻/报道 1</guid>{DATE}",
        "<title>Spaces</title><link>https://wire.example/a story/?q=a b</link>"
        f'<guid isPermaLink="false">wire 7</guid>{DATE}',
        f"<title>No host</title><link>http://exa mple.com/</link>{DATE}",
    )
    app, report = gathered(make_app, http_server, {"/rss": plain})
    articles = stored(app)
    chinese = "http://www.xn--8ws00zhy3a.com/%E6%96%B0%E9%97%BB/%E6%8A%A5%E9%81%93%201"
    assert chinese in articles and articles[chinese].id == chinese
    assert "https://wire.example/a%20story/?q=a%20b" in articles
    assert app.store.articles.get("wire 7") is not None  # a plain guid may hold spaces
    assert errors(report) == {
        "http://exa mple.com/": "entry has no usable link (and its id is not a URL)"
    }
    folder = publish_valid(app, tmp_path, atom_schema)
    atom_bytes = (folder / "world.atom.xml").read_bytes()
    assert b"<id>tag:todaypress.example,2026:wire%207</id>" in atom_bytes


def test_invalid_ids_are_replaced_by_stable_tag_uris(make_app, http_server, tmp_path, atom_schema):
    valid_uuid = "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    feed = atom(
        *(
            f"<title>Entry {n}</title><id>{entry_id}</id>"
            f"<link href='https://agency.example/{n}'/><updated>2026-11-25T08:00:00Z</updated>"
            for n, entry_id in enumerate(
                [
                    "urn:uuid:not-a-uuid",
                    "tag:agency.example:no-date",
                    "urn:x",
                    "https://exa mple.com/x",
                    valid_uuid,
                    "tag:agency.example,2026:ok",
                    "urn:isbn:0451450523",
                ]
            )
        )
    )
    app, report = gathered(make_app, http_server, {"/atom": feed})
    assert errors(report) == {}
    ids = {a.url.rsplit("/", 1)[1]: a.id for a in app.store.articles.newest()}
    assert ids["4"] == valid_uuid
    assert ids["5"] == "tag:agency.example,2026:ok"
    assert ids["6"] == "urn:isbn:0451450523"
    for n in "0123":
        assert ids[n].startswith("tag:todaypress.example,2026:upstream-"), ids[n]
    assert len({ids[n] for n in "0123"}) == 4
    # Stable: the next gather (the feed has changed, no 304) finds the same ids.
    http_server.routes["/atom"] = Reply(feed.replace(b"Agency", b"Agency!"))
    again = gather(app.store.articles, app.section_sources(), settings=app.settings.gather)
    assert again.sections["world"].counts()["unchanged"] == 7
    publish_valid(app, tmp_path, atom_schema)


def test_items_feed_readers_accept(make_app, http_server, tmp_path, atom_schema):
    plain = rss(
        "<title>Dateless</title><link>https://wire.example/dateless</link>",
        "<link>https://wire.example/untitled</link><description>"
        f"Ferry crews vote to accept the new rota after a long night</description>{DATE}",
        f"<link>https://wire.example/nothing</link>{DATE}",
    )
    feed = atom(
        "<title>Link is the id</title><id>https://agency.example/by-id</id>"
        "<updated>2026-11-25T08:00:00Z</updated>",
        "<title>No link at all</title><id>urn:agency:no-link</id>"
        "<updated>2026-11-25T08:00:00Z</updated>",
    )
    before = datetime.now(UTC).replace(microsecond=0)
    app, report = gathered(make_app, http_server, {"/rss": plain, "/atom": feed})
    articles = stored(app)
    dateless = articles["https://wire.example/dateless"]
    assert before <= dateless.published <= datetime.now(UTC)
    assert articles["https://wire.example/untitled"].title == (
        "Ferry crews vote to accept the new rota after a long night"
    )
    assert articles["https://agency.example/by-id"].id == "https://agency.example/by-id"
    assert errors(report) == {
        "https://wire.example/nothing": "entry has neither a title nor a description",
        "urn:agency:no-link": "entry has no usable link (and its id is not a URL)",
    }
    time.sleep(1.1)  # a later gather must not re-date the dateless item
    again = gather(app.store.articles, app.section_sources(), settings=app.settings.gather)
    assert again.sections["world"].counts() == {
        "new": 0,
        "updated": 0,
        "unchanged": 3,
        "rejected": 2,
    }
    assert app.store.articles.get(dateless.id).published == dateless.published
    publish_valid(app, tmp_path, atom_schema)


def test_items_without_a_body_have_no_empty_content(make_app, http_server, tmp_path, atom_schema):
    plain = rss(f"<title>Only a title</title><link>https://wire.example/bare</link>{DATE}")
    app, report = gathered(make_app, http_server, {"/rss": plain})
    assert errors(report) == {}
    folder = publish_valid(app, tmp_path, atom_schema)
    assert b"<content" not in (folder / "world.atom.xml").read_bytes()
    assert b"content:encoded" not in (folder / "world.rss.xml").read_bytes()
    [item] = json.loads((folder / "world.json").read_text())["items"]
    assert "content_html" not in item and item["content_text"] == "Only a title"


@pytest.mark.parametrize(
    ("declared", "body", "content_type"),
    [
        ("iso-8859-1", "Café crème in Zürich".encode(), "application/rss+xml"),
        ("utf-8", "Café crème in Zürich".encode("latin-1"), "text/xml; charset=utf-8"),
        ("utf-8", "Café crème in Zürich".encode(), "text/plain"),
        ("utf-8", "Café crème in Zürich".encode(), "application/octet-stream"),
    ],
)
def test_wrong_encodings_and_content_types(
    make_app, http_server, tmp_path, atom_schema, declared, body, content_type
):
    head = RSS_HEAD.replace('encoding="utf-8"', f'encoding="{declared}"').encode()
    item = b"<item><title>" + body + b"</title><link>https://wire.example/cafe</link>"
    feed = head + item + DATE.encode() + b"</item>" + RSS_TAIL.encode()
    reply = Reply(feed, headers={"Content-Type": content_type})
    app, report = gathered(make_app, http_server, {"/rss": reply})
    assert report.sections["world"].errors == []
    [article] = app.store.articles.newest()
    assert "Caf" in article.title and "Z" in article.title  # decoded, perhaps as mojibake
    publish_valid(app, tmp_path, atom_schema)


def test_an_html_page_and_a_hanging_source(make_app, http_server, tmp_path, atom_schema):
    page = Reply(
        b"<!DOCTYPE html><html><head><title>Login</title></head><body>Sign in</body></html>",
        headers={"Content-Type": "text/html"},
    )
    hanging = Reply(rss(f"<title>Late</title><link>https://wire.example/late</link>{DATE}"))
    hanging.delay = 4
    good = rss(f"<title>On time</title><link>https://wire.example/on-time</link>{DATE}")
    started = time.monotonic()
    app, report = gathered(
        make_app,
        http_server,
        {"/page": page, "/hang": hanging, "/good": good},
        http_timeout=10,
        deadline=1,
    )
    assert time.monotonic() - started < 3.5  # the deadline, not the slow server, ends it
    reasons = errors(report)
    assert reasons[f"{http_server.url}/page"].startswith("not an RSS or Atom feed")
    assert "world:feed:" in next(w for w in reasons if "hang" in w)
    assert "deadline" in next(r for w, r in reasons.items() if "hang" in w)
    assert list(stored(app)) == ["https://wire.example/on-time"]
    publish_valid(app, tmp_path, atom_schema)


def test_one_bad_article_never_stops_the_feeds(make_app, tmp_path, atom_schema):
    from tests.helpers import article, put_articles

    app = make_app(base_settings())
    put_articles(
        app.store,
        [
            article(1, "opinion"),
            article(2, "opinion", title="", summary=""),
            article(3, "opinion", url="not a url"),
        ],
    )
    report = publish_feeds(app.settings, app.store.articles, now=NOW)
    assert report.failed == []
    rss_feed = feedparser.parse((tmp_path / "feeds" / "opinion.rss.xml").read_bytes())
    assert [e.title for e in rss_feed.entries] == ["Story 1"]
    assert_valid(tmp_path / "feeds", atom_schema)


def test_an_empty_feed_has_a_stable_date(make_app, tmp_path, atom_schema):
    app = make_app(base_settings())
    publish_feeds(app.settings, app.store.articles, now=NOW)
    folder = tmp_path / "feeds"
    first = (folder / "opinion.atom.xml").read_bytes()
    assert b"1970" not in first and b"2026-11-28T12:00:00+00:00" in first
    assert b"1970" not in (folder / "opinion.rss.xml").read_bytes()
    later = datetime(2026, 12, 1, tzinfo=UTC)
    publish_feeds(app.settings, app.store.articles, now=later, force=True)
    assert (folder / "opinion.atom.xml").read_bytes() == first
    assert_valid(folder, atom_schema)
