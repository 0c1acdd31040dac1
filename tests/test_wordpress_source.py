"""The WordPress source against a real HTTP server speaking the REST API."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.conftest import Reply, base_settings
from tests.helpers import counts, run_gather
from tests.wordpress_fake import FakeWordPress, post

BOGOTA = ZoneInfo("America/Bogota")


def wp_settings(url: str, category: int | None = 3) -> dict:
    source = {"type": "wordpress", "url": f"{url}/wp-json/wp/v2"}
    if category:
        source["category"] = category
    raw = base_settings(sections=[{"slug": "world", "title": "World", "sources": [source]}])
    raw["gather"] = {"http_timeout": 1}
    return raw


def serve(http_server, fake: FakeWordPress) -> None:
    http_server.routes["/wp-json/wp/v2/posts"] = Reply(fake)


def test_posts_of_the_category_over_several_pages(make_app, http_server):
    fake = FakeWordPress(posts=[post(n) for n in range(1, 9)] + [post(99, category=7)])
    serve(http_server, fake)
    app = make_app(wp_settings(http_server.url))
    assert counts(run_gather(app), "world") == {
        "new": 8,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    hits = http_server.hits("/wp-json/wp/v2/posts")
    assert [h.query["page"] for h in hits] == [["1"], ["2"], ["3"]]
    assert all(h.query["categories"] == ["3"] and h.query["_embed"] == ["1"] for h in hits)
    article = app.store.articles.get("https://wp.example/?p=1")
    assert article is not None
    assert article.title == "Post number 1 \u2013 update"
    assert article.summary == "Excerpt of post 1\u2026"
    assert article.url == "https://wp.example/2026/11/post-1/"
    assert article.published == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert article.updated == datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    assert article.authors == ("Mara Quinn",)
    assert article.tags == ("elections", "europe")
    assert article.image == "https://wp.example/wp-content/uploads/1.jpg"
    assert article.image_alt == "Picture 1"
    assert 'href="https://wp.example/related/"' in article.content
    assert "script" not in article.content


def test_second_gather_asks_only_for_modified_posts(make_app, http_server):
    fake = FakeWordPress(posts=[post(n) for n in range(1, 6)])
    serve(http_server, fake)
    app = make_app(wp_settings(http_server.url))
    run_gather(app)
    second = run_gather(app)
    assert second.sections["world"].new == second.sections["world"].updated == 0
    last = http_server.hits("/wp-json/wp/v2/posts")[-1]
    # The cursor goes with its offset, stepped back a safety overlap of ten minutes.
    assert last.query["modified_after"] == ["2026-11-06T09:20:00+00:00"]
    fake.posts[0] = post(1, modified="2026-11-27T12:00:00", title={"rendered": "Edited"})
    third = run_gather(app)
    # post 5 is read again too (within the overlap): unchanged, so it costs nothing
    assert counts(third, "world") == {"new": 0, "updated": 1, "unchanged": 1, "rejected": 0}
    assert http_server.hits("/wp-json/wp/v2/posts")[-1].query["modified_after"] == [
        "2026-11-06T09:20:00+00:00"
    ]
    assert app.store.articles.get("https://wp.example/?p=1").title == "Edited"
    run_gather(app)
    assert http_server.hits("/wp-json/wp/v2/posts")[-1].query["modified_after"] == [
        "2026-11-27T11:50:00+00:00"
    ]


def test_an_edit_on_a_site_west_of_utc_is_picked_up(make_app, http_server):
    # The site is in UTC-5 (no summer time); WordPress compares modified_after with its local
    # post_modified column and reads a value without an offset in the site's zone.
    fake = FakeWordPress(posts=[post(1, modified="2026-11-20T10:00:00")], zone=BOGOTA)
    serve(http_server, fake)
    app = make_app(wp_settings(http_server.url))
    assert counts(run_gather(app), "world")["new"] == 1
    # Edited one hour after the last gather's newest change (11:00 UTC = 06:00 local).
    edited = post(1, modified="2026-11-20T11:00:00", title={"rendered": "Edited an hour later"})
    fake.posts[0] = edited
    assert counts(run_gather(app), "world")["updated"] == 1
    assert app.store.articles.get("https://wp.example/?p=1").title == "Edited an hour later"


def test_the_fake_compares_as_wordpress_does():
    fake = FakeWordPress(posts=[post(1, modified="2026-11-20T11:00:00")], zone=BOGOTA)
    [local] = [fake._local(p) for p in fake.posts]
    assert local["modified"] == "2026-11-20T06:00:00"
    # Without an offset, 09:59:59 is read as 09:59:59 in Bogota (14:59:59 UTC): the edit at
    # 06:00 local is older, so it is not returned; with +00:00 it is 04:59:59 local.
    assert not fake._matches(local, {"modified_after": ["2026-11-20T09:59:59"]})
    assert fake._matches(local, {"modified_after": ["2026-11-20T09:59:59+00:00"]})


def test_page_timeout_keeps_earlier_pages_and_retries_next_time(make_app, http_server):
    fake = FakeWordPress(posts=[post(n) for n in range(1, 8)], slow_pages={2: 3})
    serve(http_server, fake)
    app = make_app(wp_settings(http_server.url))
    report = run_gather(app)
    assert report.sections["world"].new == 3
    [error] = report.sections["world"].errors
    assert "/wp-json/wp/v2/posts" in error["where"] and "page=2" in error["where"]
    assert "timed out" in error["reason"] and "fetched next time" in error["reason"]
    fake.slow_pages.clear()
    second = run_gather(app)
    assert counts(second, "world") == {"new": 4, "updated": 0, "unchanged": 3, "rejected": 0}
    assert "modified_after" not in http_server.hits("/wp-json/wp/v2/posts")[-1].query


def test_server_error_on_first_page_is_a_source_error(make_app, http_server):
    serve(http_server, FakeWordPress(posts=[post(1)], failing_pages={1: 500}))
    app = make_app(wp_settings(http_server.url))
    report = run_gather(app)
    [error] = report.sections["world"].errors
    assert error["reason"] == "HTTP 500" and "page=1" in error["where"]
    assert app.store.articles.count() == 0


def test_malformed_posts_are_rejected_individually(make_app, http_server):
    posts = [
        post(1),
        post(2, title={"rendered": ""}, excerpt={"rendered": ""}, content={"rendered": "<p></p>"}),
        post(3, date_gmt="not a date"),
        post(4, link=None),
        "not an object",
        post(5, content={"rendered": "<p>" + "y" * 1_200_000 + "</p>"}),
        post(6, title={"rendered": "<img src=x onerror=alert(1)>"}),
    ]
    serve(http_server, FakeWordPress(posts=posts, max_per_page=100))
    app = make_app(wp_settings(http_server.url, category=None))
    report = run_gather(app)
    assert counts(report, "world") == {"new": 2, "updated": 0, "unchanged": 0, "rejected": 5}
    reasons = [f"{e['where']}: {e['reason']}" for e in report.sections["world"].errors]
    assert any("post-2/: post has neither a title nor any text" in r for r in reasons)
    # A title of only markup is no title: the excerpt's first words stand in.
    titled = app.store.articles.get("https://wp.example/?p=6")
    assert titled is not None and titled.title == "Excerpt of post 6…"
    assert any("post-3/: date_gmt: cannot parse 'not a date'" in r for r in reasons)
    assert any("posts/4: post has no usable link" in r for r in reasons)
    assert any("not an object" in r for r in reasons)
    assert any("post-5/" in r and "over the limit" in r for r in reasons)


def test_not_json_is_a_source_error(make_app, http_server):
    http_server.routes["/wp-json/wp/v2/posts"] = Reply(b"<html>login</html>")
    app = make_app(wp_settings(http_server.url))
    [error] = run_gather(app).sections["world"].errors
    assert "not JSON" in error["reason"]
