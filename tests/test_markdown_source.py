"""The markdown source: parsing, incremental and idempotent gathering, every kind of bad file."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import base_settings
from tests.helpers import counts, markdown, run_gather, write_article


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "content" / "opinion"


def test_article_fields_are_parsed(make_app, folder):
    write_article(
        folder,
        "water-rights.md",
        markdown(
            title="Water & rights",
            date="2026-11-20T08:00:00+02:00",
            body="First *para*.\n\nSee [the map](/maps/basin/) and ![pic](img/a.png).",
            authors="[Ana Ruiz, Jun Park]",
            tags="[water, courts]",
            summary="Short summary.",
            image="/images/water.jpg",
            image_alt="A river",
            updated="2026-11-21T09:00:00Z",
        ),
    )
    app = make_app()
    assert counts(run_gather(app)) == {"new": 1, "updated": 0, "unchanged": 0, "rejected": 0}
    [article] = app.store.articles.newest()
    assert article.id == "opinion/water-rights"
    assert article.url == "https://todaypress.example/opinion/water-rights/"
    assert article.title == "Water & rights"
    assert article.authors == ("Ana Ruiz", "Jun Park")
    assert article.tags == ("water", "courts")
    assert article.summary == "Short summary."
    assert article.published == datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    assert article.updated == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert article.image == "https://todaypress.example/images/water.jpg"
    assert article.image_alt == "A river"
    assert '<a href="https://todaypress.example/maps/basin/"' in article.content
    assert 'src="https://todaypress.example/opinion/water-rights/img/a.png"' in article.content
    assert "<em>para</em>" in article.content


def test_toml_front_matter_and_site_zone_for_naive_dates(make_app, folder):
    write_article(
        folder,
        "toml.md",
        (
            '+++\ntitle = "From TOML"\ndate = 2026-11-22T09:00:00\n'
            'id = "custom-id-7"\nauthor = "Li Wei"\n+++\nBody.\n'
        ),
    )
    raw = base_settings()
    raw["site"]["timezone"] = "Asia/Tokyo"
    app = make_app(raw)
    run_gather(app)
    [article] = app.store.articles.newest()
    assert article.id == "custom-id-7"
    assert article.authors == ("Li Wei",)
    assert article.published == datetime(2026, 11, 22, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
    assert article.summary == "Body."


def test_second_gather_changes_nothing(make_app, folder):
    for n in range(5):
        write_article(folder, f"a{n}.md", markdown(title=f"Article {n}"))
    app = make_app()
    assert counts(run_gather(app))["new"] == 5
    assert counts(run_gather(app)) == {"new": 0, "updated": 0, "unchanged": 5, "rejected": 0}


def test_edited_file_is_one_update_with_the_same_id(make_app, folder):
    path = write_article(folder, "a.md", markdown(title="Before"))
    write_article(folder, "b.md", markdown(title="Other"))
    app = make_app()
    run_gather(app)
    path.write_text(markdown(title="After"), encoding="utf-8")
    report = run_gather(app)
    assert counts(report) == {"new": 0, "updated": 1, "unchanged": 1, "rejected": 0}
    assert [a.title for a in app.store.articles.newest() if a.id == "opinion/a"] == ["After"]
    assert app.store.articles.count() == 2


def test_touched_but_identical_file_is_unchanged(make_app, folder):
    path = write_article(folder, "a.md", markdown())
    app = make_app()
    run_gather(app)
    later = path.stat().st_mtime + 60
    os.utime(path, (later, later))
    assert counts(run_gather(app)) == {"new": 0, "updated": 0, "unchanged": 1, "rejected": 0}
    assert counts(run_gather(app))["unchanged"] == 1


def test_subfolder_names_the_section(make_app, tmp_path):
    root = tmp_path / "content"
    write_article(root / "world", "w.md", markdown(title="World piece"))
    write_article(root / "opinion", "o.md", markdown(title="Opinion piece"))
    raw = base_settings(
        sections=[
            {
                "slug": "world",
                "title": "World",
                "sources": [{"type": "markdown", "path": "content"}],
            },
            {"slug": "opinion", "title": "Opinion"},
        ]
    )
    app = make_app(raw)
    run_gather(app)
    assert {a.id: a.section for a in app.store.articles.newest()} == {
        "world/w": "world",
        "opinion/o": "opinion",
    }


def test_drafts_are_skipped_and_a_published_article_made_draft_is_withdrawn(make_app, folder):
    write_article(folder, "draft.md", markdown(title="Not yet", draft="true"))
    live = write_article(folder, "live.md", markdown(title="Live"))
    app = make_app()
    assert counts(run_gather(app))["new"] == 1
    live.write_text(markdown(title="Live", draft="true"), encoding="utf-8")
    assert counts(run_gather(app))["updated"] == 1
    assert app.store.articles.newest() == []
    assert [a.id for a in app.store.articles.newest(drafts=True)] == ["opinion/live"]


def test_script_and_event_handlers_are_removed(make_app, folder):
    body = (
        '<script>alert("x")</script>\n\n<img src="/a.png" onerror="alert(1)">\n\n'
        '<a href="javascript:alert(2)">click</a> <p onclick="steal()">text</p>'
    )
    write_article(folder, "hostile.md", markdown(body=body))
    app = make_app()
    assert counts(run_gather(app))["new"] == 1
    content = app.store.articles.newest()[0].content
    for bad in ("<script", "alert", "onerror", "onclick", "javascript:"):
        assert bad not in content
    assert 'src="https://todaypress.example/a.png"' in content


BAD_FILES = {
    "no-title.md": (markdown(title=None), "title: required field is missing"),
    "empty-title.md": (markdown(title=""), "title: required field is missing"),
    "no-date.md": (markdown(date=None), "date: required field is missing"),
    "bad-date.md": (markdown(date="next tuesday"), "date: cannot parse 'next tuesday'"),
    "latin1.md": (markdown(title="Caf\u00e9").encode("latin-1"), "not valid UTF-8: byte 0xe9"),
    "broken-yaml.md": (
        '---\ntitle: "unclosed\ndate: [2026\n---\nBody\n',
        "front matter is not valid YAML",
    ),
    "broken-toml.md": ("+++\ntitle = \n+++\nBody\n", "front matter is not valid TOML"),
    "no-front-matter.md": ("# Just a heading\n\nText.\n", "no front matter"),
    "list-front-matter.md": ("---\n- a\n- b\n---\nBody\n", "front matter must be a mapping"),
    "huge.md": (markdown(body="x" * 5_000_000), "over the limit of 1.0 MB"),
    "Bad Slug.md": (markdown(), "slug: 'Bad Slug' must be lowercase"),
    "other-section.md": (markdown(section="sports"), "unknown section 'sports'"),
}


def test_every_bad_file_is_rejected_with_its_name_and_the_rest_are_stored(make_app, folder):
    for name, (text, _) in BAD_FILES.items():
        write_article(folder, name, text)
    write_article(folder, "good-1.md", markdown(title="Good one"))
    write_article(folder, "good-2.md", markdown(title="Good two"))
    app = make_app()
    report = run_gather(app)
    assert counts(report) == {"new": 2, "updated": 0, "unchanged": 0, "rejected": len(BAD_FILES)}
    errors = {Path(e["where"]).name: e["reason"] for e in report.sections["opinion"].errors}
    assert errors.keys() == BAD_FILES.keys()
    for name, (_, reason) in BAD_FILES.items():
        assert reason in errors[name], (name, errors[name])
    assert sorted(a.title for a in app.store.articles.newest()) == ["Good one", "Good two"]
    # Rejected files are reported again next time (they are still broken), never stored.
    assert counts(run_gather(app)) == {
        "new": 0,
        "updated": 0,
        "unchanged": 2,
        "rejected": len(BAD_FILES),
    }


def test_breaking_a_stored_article_keeps_the_stored_version(make_app, folder):
    path = write_article(folder, "a.md", markdown(title="Good"))
    app = make_app()
    run_gather(app)
    before = app.store.articles.newest()
    path.write_bytes(b"---\ntitle: [\n---\n\xff\xfe")
    report = run_gather(app)
    assert counts(report)["rejected"] == 1
    assert app.store.articles.newest() == before
    path.write_text(markdown(title="Fixed"), encoding="utf-8")
    assert counts(run_gather(app))["updated"] == 1


def test_duplicate_ids_are_rejected_not_flipped(make_app, folder):
    write_article(folder, "one.md", markdown(title="One", id="same"))
    app = make_app()
    run_gather(app)
    write_article(folder, "two.md", markdown(title="Two", id="same"))
    report = run_gather(app)
    assert counts(report) == {"new": 0, "updated": 0, "unchanged": 1, "rejected": 1}
    assert "id 'same' is already used by" in report.sections["opinion"].errors[0]["reason"]
    assert [a.title for a in app.store.articles.newest()] == ["One"]


def test_renamed_file_with_explicit_id_keeps_the_article(make_app, folder):
    path = write_article(folder, "one.md", markdown(title="One", id="stable", slug="one"))
    app = make_app()
    run_gather(app)
    path.rename(folder / "renamed.md")
    assert counts(run_gather(app)) == {"new": 0, "updated": 0, "unchanged": 1, "rejected": 0}
    assert counts(run_gather(app)) == {"new": 0, "updated": 0, "unchanged": 1, "rejected": 0}


def test_missing_folder_is_a_source_error_not_a_crash(make_app):
    report = run_gather(make_app())
    assert counts(report) == {"new": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    assert "folder not found" in report.sections["opinion"].errors[0]["reason"]


def test_dates_stay_timezone_aware(make_app, folder):
    write_article(folder, "a.md", markdown(date="2026-11-20T23:30:00-05:00"))
    app = make_app()
    run_gather(app)
    published = app.store.articles.newest()[0].published
    assert published.utcoffset() == timedelta(0)
    assert published == datetime(2026, 11, 20, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
