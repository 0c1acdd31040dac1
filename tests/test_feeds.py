"""Feeds: validity (RELAX NG, feedparser, JSON Feed 1.1), golden files, determinism, no-op runs."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
from lxml import etree

from publisher.feeds.build import build_feed_files, feed_infos
from publisher.feeds.write import publish_feeds, write_if_changed
from tests.conftest import Reply, base_settings
from tests.helpers import article, put_articles

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SECTIONS = [
    {"slug": "world", "title": "World", "description": "News from every continent."},
    {"slug": "opinion", "title": "Opinion"},
]


def feeds_settings(**feeds: object) -> dict:
    return base_settings(sections=SECTIONS, feeds={"items": 5, **feeds})


def assert_valid(folder: Path, atom_schema: etree.RelaxNG) -> None:
    """Every feed in folder: Atom against RFC 4287, RSS and Atom via feedparser, JSON Feed 1.1."""
    atoms = sorted(folder.glob("*.atom.xml"))
    assert atoms
    for path in atoms:
        assert atom_schema.validate(etree.parse(str(path))), (path.name, atom_schema.error_log)
    for path in sorted(folder.glob("*.xml")):
        parsed = feedparser.parse(path.read_bytes())
        assert parsed.bozo == 0, (path.name, parsed.get("bozo_exception"))
    for path in sorted(folder.glob("[!.]*.json")):
        check_json_feed(json.loads(path.read_text(encoding="utf-8")))


def check_json_feed(feed: dict) -> None:
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"]
    assert isinstance(feed["items"], list)
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert "content_html" in item or "content_text" in item
        for key in ("date_published", "date_modified"):
            assert datetime.fromisoformat(item[key]).tzinfo is not None


def test_every_feed_is_valid_with_the_expected_content(make_app, tmp_path, atom_schema):
    app = make_app(feeds_settings())
    put_articles(app.store, [article(n, "world") for n in range(8)] + [article(20, "opinion")])
    report = publish_feeds(app.settings, app.store.articles, now=NOW)
    folder = tmp_path / "feeds"
    assert sorted(report.written) == sorted(
        f"{slug}.{kind}"
        for slug in ("world", "opinion", "all")
        for kind in ("rss.xml", "atom.xml", "json")
    )
    assert_valid(folder, atom_schema)
    rss = feedparser.parse((folder / "world.rss.xml").read_bytes())
    assert [e.title for e in rss.entries] == [f"Story {n}" for n in (7, 6, 5, 4, 3)]  # newest N
    first = rss.entries[0]
    assert first.id == "world/story-7" and first.guidislink is False
    assert first.link == "https://todaypress.example/world/story-7/"
    assert first.content[0].value == "<p>Body of story 7.</p>"
    assert first.summary == "Summary of story 7."
    assert [t.term for t in first.tags] == ["world", "water", "courts"]
    assert first.author == "Ana Ruiz"
    assert first.enclosures[0].href == "https://todaypress.example/images/7.jpg"
    assert first.enclosures[0].type == "image/jpeg"
    assert rss.feed.link == "https://todaypress.example/world/"
    channel = etree.parse(str(folder / "world.rss.xml")).getroot()[0]
    assert channel.findtext("lastBuildDate") == "Sun, 01 Nov 2026 07:00:00 +0000"
    self_link = channel.find("{http://www.w3.org/2005/Atom}link")
    assert self_link.get("href") == "https://todaypress.example/feeds/world.rss.xml"
    atom = feedparser.parse((folder / "world.atom.xml").read_bytes())
    assert atom.feed.updated == "2026-11-01T07:00:00+00:00"
    assert atom.entries[0].id == "tag:todaypress.example,2026:world/story-7"
    links = {link.rel: link for link in atom.entries[0].links}
    assert links["alternate"].href == "https://todaypress.example/world/story-7/"
    assert links["enclosure"].href == "https://todaypress.example/images/7.jpg"
    everything = json.loads((folder / "all.json").read_text())
    assert [i["id"] for i in everything["items"]][:2] == ["opinion/story-20", "world/story-7"]
    assert everything["feed_url"] == "https://todaypress.example/feeds/all.json"


def test_drafts_and_future_articles_are_left_out(make_app, tmp_path):
    app = make_app(feeds_settings())
    put_articles(
        app.store,
        [
            article(1),
            article(2, draft=True),
            article(3, published=NOW + timedelta(hours=1), updated=NOW + timedelta(hours=1)),
        ],
    )
    publish_feeds(app.settings, app.store.articles, now=NOW)
    items = json.loads((tmp_path / "feeds" / "world.json").read_text())["items"]
    assert [i["id"] for i in items] == ["world/story-1"]


def golden_articles() -> list:
    return [
        article(
            5,
            "opinion",
            title="Water & rights: a <b>bold</b> claim",
            authors=("Ana Ruiz", "Jun Park"),
        ),
        article(
            4, "opinion", id="https://todaypress.example/opinion/permalink/", image=None, tags=()
        ),
        article(
            3,
            "opinion",
            updated=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
            image="https://todaypress.example/i.png",
        ),
    ]


def test_golden_files_for_one_section(make_app):
    app = make_app(feeds_settings())
    [info] = [i for i in feed_infos(app.settings) if i.slug == "opinion"]
    files = build_feed_files(info, golden_articles(), "todaypress.example,2026")
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        for name, data in files.items():
            (GOLDEN / name).write_bytes(data)
    for name, data in files.items():
        expected = (GOLDEN / name).read_bytes()
        assert data == expected, f"{name} differs from tests/golden (UPDATE_GOLDEN=1 to accept)"


def test_same_articles_give_the_same_bytes(make_app, tmp_path):
    app = make_app(feeds_settings())
    [info] = [i for i in feed_infos(app.settings) if i.slug == "world"]
    first = build_feed_files(info, [article(n) for n in range(5, 0, -1)], "x.example,2026")
    again = build_feed_files(info, [article(n) for n in range(5, 0, -1)], "x.example,2026")
    assert first == again
    # and through the store, whatever order the articles were stored in
    put_articles(app.store, [article(n) for n in (3, 1, 5, 2, 4)])
    publish_feeds(app.settings, app.store.articles, now=NOW)
    other = make_app(feeds_settings(path="feeds2"), database_url=f"sqlite:///{tmp_path}/other.db")
    put_articles(other.store, [article(n) for n in (5, 4, 3, 2, 1)])
    publish_feeds(other.settings, other.store.articles, now=NOW + timedelta(days=3))
    for name in ("world.rss.xml", "world.atom.xml", "world.json", "all.atom.xml"):
        assert (tmp_path / "feeds" / name).read_bytes() == (tmp_path / "feeds2" / name).read_bytes()


def test_a_run_with_no_change_writes_nothing(make_app, tmp_path):
    app = make_app(feeds_settings())
    put_articles(app.store, [article(n) for n in range(3)] + [article(9, "opinion")])
    publish_feeds(app.settings, app.store.articles, now=NOW)
    folder = tmp_path / "feeds"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    report = publish_feeds(app.settings, app.store.articles, now=NOW + timedelta(minutes=10))
    assert report.written == [] and report.unchanged == 9
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    # One edited world article: world and all change, opinion is not touched.
    put_articles(app.store, [article(1, title="Edited")], changed=True)
    report = publish_feeds(app.settings, app.store.articles, now=NOW)
    assert sorted(report.written) == sorted(
        f"{slug}.{kind}" for slug in ("world", "all") for kind in ("rss.xml", "atom.xml", "json")
    )
    assert (folder / "opinion.rss.xml").stat().st_mtime_ns == before["opinion.rss.xml"]
    # A deleted file is written again, even though nothing changed.
    (folder / "opinion.json").unlink()
    assert publish_feeds(app.settings, app.store.articles, now=NOW).written == ["opinion.json"]


def test_force_rebuilds_but_still_writes_only_different_bytes(make_app, tmp_path):
    app = make_app(feeds_settings())
    put_articles(app.store, [article(1)])
    publish_feeds(app.settings, app.store.articles, now=NOW)
    (tmp_path / "feeds" / "world.rss.xml").write_bytes(b"tampered")
    report = publish_feeds(app.settings, app.store.articles, now=NOW, force=True)
    assert report.written == ["world.rss.xml"]


def test_atomic_replace_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "f.xml"
    assert write_if_changed(target, b"one") is True
    assert write_if_changed(target, b"one") is False
    assert write_if_changed(target, b"two") is True
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.xml"]


HOSTILE = [
    {"title": "Control\x00chars\x01\x0b\x1f here", "summary": "bell\x07 and vertical\x0b tab"},
    {"title": "CDATA end ]]> inside", "content": "<p>]]&gt; and ]]></p><![CDATA[x]]>"},
    {"title": "Long " + "word " * 4000},
    {"title": "Пресса 新闻 ニュース 뉴스 समाचार", "authors": ("Анна Иванова", "李雷")},
    {"title": "عنوان باللغة العربية \u202bمع تضمين\u202c", "summary": "טקסט בעברית מימין לשמאל"},
    {"title": "Emoji 🗞️🌍👩🏽‍💻 news", "tags": ("🌍", "news & views", "<tag>")},
    {"title": "Noncharacter \ufffe and \uffff", "id": "id-with-\x01-control"},
    {"title": "Entity &amp; &bogus; < > \" '", "summary": "&#0; &#x1F; numeric refs"},
]


def test_hostile_article_data_still_gives_valid_feeds(make_app, tmp_path, atom_schema):
    app = make_app(feeds_settings(items=20))
    put_articles(app.store, [article(n, **changes) for n, changes in enumerate(HOSTILE)])
    publish_feeds(app.settings, app.store.articles, now=NOW)
    assert_valid(tmp_path / "feeds", atom_schema)
    parsed = feedparser.parse((tmp_path / "feeds" / "world.atom.xml").read_bytes())
    titles = {e.title for e in parsed.entries}
    assert "Пресса 新闻 ニュース 뉴스 समाचार" in titles
    assert "Emoji 🗞️🌍👩🏽‍💻 news" in titles
    assert "CDATA end ]]> inside" in titles
    assert "Controlchars here" in titles


def test_lone_surrogates_are_dropped_from_feeds(make_app):
    app = make_app(feeds_settings())
    [info] = [i for i in feed_infos(app.settings) if i.slug == "world"]
    broken = article(1, title="Lone \ud800 surrogate", content="<p>\udfff</p>")
    files = build_feed_files(info, [broken], "x.example,2026")
    assert feedparser.parse(files["world.atom.xml"]).entries[0].title == "Lone  surrogate"
    assert json.loads(files["world.json"])["items"][0]["content_html"] == "<p></p>"


def test_websub_hub_hears_of_changed_feeds_only(make_app, http_server):
    http_server.routes["/hub"] = Reply(b"", status=204)
    app = make_app(feeds_settings(websub_hub=f"{http_server.url}/hub"))
    put_articles(app.store, [article(1, "opinion")])
    report = publish_feeds(app.settings, app.store.articles, now=NOW, http=app.http)
    assert report.announced == 9 and report.announce_failed == 0
    posts = http_server.hits("/hub")
    assert all(p.method == "POST" and b"hub.mode=publish" in p.body for p in posts)
    assert b"hub.url=https%3A%2F%2Ftodaypress.example%2Ffeeds%2Fopinion.atom.xml" in b"".join(
        p.body for p in posts
    )
    publish_feeds(app.settings, app.store.articles, now=NOW, http=app.http)
    assert len(http_server.hits("/hub")) == 9
    atom = (Path(app.settings.resolve("feeds")) / "opinion.atom.xml").read_text()
    assert f'href="{http_server.url}/hub" rel="hub"' in atom


def test_a_failing_hub_is_logged_not_fatal(make_app, http_server, caplog):
    http_server.routes["/hub"] = Reply(b"", status=500)
    app = make_app(feeds_settings(websub_hub=f"{http_server.url}/hub"))
    put_articles(app.store, [article(1)])
    report = publish_feeds(app.settings, app.store.articles, now=NOW, http=app.http)
    assert report.announce_failed == 9 and report.announced == 0
    assert len(report.written) == 9
    assert "websub announce failed" in caplog.text
