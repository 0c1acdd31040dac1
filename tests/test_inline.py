"""CSS inlined per block: the joined variant equals premailer on the whole page, byte for byte.

The comparison is exact: `EditionRender.rendered(v).html` (the page inlined once, each block
inlined once in its frame, joined) against `Inliner().page(whole page)` (the variant's whole
page rendered by Jinja and inlined in one premailer run). Slot markers are compared as they
are (the per-subscriber values go in afterwards, the same way in both).
"""

from __future__ import annotations

import email
import functools
import logging
import random
import subprocess
from datetime import UTC, datetime, timedelta
from email import policy
from itertools import combinations
from pathlib import Path

import pytest

from publisher.digest.build import preview_subscriber
from publisher.digest.editions import new_edition
from publisher.digest.inline import Inliner
from publisher.digest.message import Envelope, PreparedVariant, Recipient
from publisher.models import EditionKind, Link
from publisher.pipeline import mailer as build_mailer
from publisher.pipeline import related_engine
from publisher.related.links import DigestLinks
from tests.conftest import ROOT, base_settings
from tests.helpers import article, put_articles

CUTOFF = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
SECTIONS = [
    {"slug": s, "title": t}
    for s, t in (("world", "World"), ("opinion", "Opinion & Views"), ("culture", "Culture"))
]
VNU = ROOT / ".cache" / "vnu" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
TRICKY = "Café & «quotes» <b>not bold</b> \"double\" 'single' \u00a0nbsp 李雷 → &amp;"

OPERATOR_CSS = """
body { margin: 0; font-family: Verdana, sans-serif; }
#page { background: #eee; }
table.outer td.cell { padding: 8px; }
#page .inner > tbody > tr > td.story h3 a { color: #004; text-decoration: none; }
td.story { border-bottom: 1px solid #ccc; }
td.story p { font-size: 15px; }
td.story.lead { background: #ffd; }
.kicker { text-transform: uppercase; letter-spacing: 1px; }
a:hover { color: red; }
@media (max-width: 480px) { td.story { padding: 4px !important; } }
"""
OPERATOR_PAGE = """<!DOCTYPE html>
<html lang="{{ site.language }}"><head><meta charset="utf-8"><title>{{ subject }}</title>
<style>{{ css }}</style></head>
<body><div id="page"><span class="pre">{{ preheader }}</span>
<table class="outer" role="presentation"><tr><td class="cell">
<p>{{ slots.greeting }} {{ edition.date }}</p>
<table class="inner" role="presentation"><tbody>
{{ body }}</tbody></table>
<p><a href="{{ slots.preferences }}">Preferences</a> <a href="{{ slots.unsubscribe }}">Leave</a></p>
</td></tr></table></div></body></html>
"""
OPERATOR_SECTION = '<tr><td class="kicker">{{ section.title }}</td></tr>\n'
OPERATOR_ARTICLE = """<tr><td class="story{% if article.related %} lead{% endif %}">
<h3><a href="{{ article.url }}">{{ article.title }}</a></h3>
<p>{{ article.summary }}</p>
{% for link in article.related %}<p><a href="{{ link.url }}">{{ link.title }}</a></p>{% endfor %}
</td></tr>
"""


@pytest.fixture
def app(make_app, monkeypatch):
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "inline-secret-0123456789")
    return make_app(base_settings(sections=SECTIONS))


def stories(app, *, tricky: bool = False) -> None:
    extra = {"title": TRICKY, "summary": TRICKY} if tricky else {}
    put_articles(
        app.store,
        [article(n, "world", **(extra if n == 1 else {})) for n in range(1, 5)]
        + [article(n, "opinion") for n in range(10, 13)]
        + [article(n, "culture", image=None) for n in range(20, 22)],
        now=CUTOFF - timedelta(hours=1),
    )


@functools.cache
def links_for(article_id: str) -> tuple[Link, ...]:
    """Deterministic related links for the equality tests (hostile titles included)."""
    return tuple(
        Link(title=f"{TRICKY} {n}", url=f"https://todaypress.example/r/{n}?a=1&b=2")
        for n in range(int(article_id.rsplit("-", 1)[1]) % 3)
    )


def links_of(article_ids, digest) -> list[tuple[Link, ...]]:
    """The links of each article, the same tuple each time (as a real lookup gives them)."""
    return [links_for(article_id) for article_id in article_ids]


def variants(app):
    """Every combination of sections as a variant of one edition."""
    mailer = build_mailer(app)
    edition = new_edition(EditionKind.DAILY, CUTOFF, app.settings.site.zone)
    slugs = [s["slug"] for s in SECTIONS]
    readers = [
        preview_subscriber(list(chosen), CUTOFF)
        for size in (1, 2, 3)
        for chosen in combinations(slugs, size)
    ]
    plan = mailer.plan(edition, readers)
    return mailer, plan, mailer.renderer.edition(edition, links_of)


def assert_every_variant_equals_the_whole_page(app) -> int:
    _, plan, render = variants(app)
    whole = Inliner()
    for variant in plan.variants.values():
        assembled = render.rendered(variant).html
        expected = whole.page(render.whole_page(variant))
        assert assembled == expected, variant.ids
    return len(plan.variants)


def test_the_built_in_templates_join_to_the_whole_page_exactly(app):
    stories(app, tricky=True)
    assert assert_every_variant_equals_the_whole_page(app) == 7


def test_an_operators_own_table_template_joins_to_the_whole_page_exactly(make_app, monkeypatch):
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "inline-secret-0123456789")
    app = make_app(base_settings(sections=SECTIONS, digest={"templates": "mine"}))
    folder = app.settings.resolve("mine") / "email"
    folder.mkdir(parents=True)
    for name, text in (
        ("digest.css", OPERATOR_CSS),
        ("digest.html.j2", OPERATOR_PAGE),
        ("section.html.j2", OPERATOR_SECTION),
        ("article.html.j2", OPERATOR_ARTICLE),
    ):
        (folder / name).write_text(text, encoding="utf-8")
    stories(app, tricky=True)
    assert build_mailer(app).renderer.sideways is None
    assert assert_every_variant_equals_the_whole_page(app) == 7
    _, plan, render = variants(app)
    html = render.rendered(next(iter(plan.variants.values()))).html
    assert 'class="story' in html and "color:#004" in html  # the ancestor selector applied


def test_selectors_that_look_at_siblings_fall_back_to_whole_pages(make_app, monkeypatch, caplog):
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "inline-secret-0123456789")
    app = make_app(base_settings(sections=SECTIONS, digest={"templates": "mine"}))
    folder = app.settings.resolve("mine") / "email"
    folder.mkdir(parents=True)
    css = (ROOT / "templates" / "email" / "digest.css").read_text(encoding="utf-8")
    (folder / "digest.css").write_text(css + "\n.article + .article { border-top: 0; }\n")
    stories(app)
    caplog.set_level(logging.WARNING, logger="publisher.digest.render")
    mailer, plan, render = variants(app)
    warnings = [r.getMessage() for r in caplog.records if "siblings" in r.getMessage()]
    assert len(warnings) == 1 and "'.article + .article'" in warnings[0]
    whole = Inliner()
    for variant in plan.variants.values():
        expected = whole.page(render.whole_page(variant))
        assert render.rendered(variant).html == expected
        assert "border-top:0" in expected
    runs = mailer.renderer.premailer_runs
    list(mailer.messages(plan))
    assert mailer.renderer.premailer_runs - runs == len(plan.variants)  # one a variant
    assert len([r for r in caplog.records if "siblings" in r.getMessage()]) == 1


def test_encoded_pieces_decode_to_the_joined_bodies(app):
    stories(app, tricky=True)
    _, plan, render = variants(app)
    envelope = Envelope(sender="T <t@todaypress.example>", list_id="T <t.example>", date=CUTOFF)
    for variant in plan.variants.values():
        rendered = render.rendered(variant)
        markers = rendered.slots
        recipient = Recipient(
            name="Ana",
            email="ana@example.com",
            greeting=markers["greeting"],
            unsubscribe_url=markers["unsubscribe"],
            preferences_url=markers["preferences"],
            message_id="<m@t>",
            list_unsubscribe="<u>",
        )
        data = PreparedVariant(render.encoded(variant), envelope).message(recipient)
        message = email.message_from_bytes(data, policy=policy.strict)
        html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert html == rendered.html and text == rendered.text
        head, body = data.split(b"\r\n\r\n", 1)
        assert all(len(line) <= 78 for line in head.split(b"\r\n"))
        assert all(len(line) <= 76 for line in body.split(b"\r\n"))  # RFC 2045


def test_no_state_is_kept_per_variant(app):
    stories(app)
    mailer, plan, render = variants(app)
    render.warm(plan.variants.values())
    assert (
        len([b for b in render._blocks if b]) == 3 + 9
    )  # three section headings and nine articles
    for variant in plan.variants.values():
        render.encoded(variant)
    held = [block for block in render._blocks if block]
    assert len(held) == 3 + 9  # joining variants keeps nothing of them
    built = mailer.messages(plan)
    assert next(built).data  # a generator: messages are made one at a time


def test_the_inlined_html_passes_the_nu_html_checker(app, tmp_path):
    if not VNU.exists():
        pytest.fail(f"{VNU} is missing: scripts/test.sh installs vnu-jar with npm")
    stories(app, tricky=True)
    _, plan, render = variants(app)
    biggest = max(plan.variants.values(), key=lambda v: len(v.articles))
    page = tmp_path / "digest.html"
    page.write_text(render.rendered(biggest).html, encoding="utf-8")
    checked = subprocess.run(
        ["java", "-jar", str(VNU), "--errors-only", "--format", "text", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_related_links_per_digest_are_what_the_engine_gives_for_that_digest(project):
    """The links worked out once per article and neighbour set equal the engine's answer for
    each digest itself (the sample content: stories that link across sections)."""
    from publisher.app import open_app
    from publisher.gather import gather
    from publisher.settings import load_settings

    app = open_app(load_settings(project / "settings.toml"))
    try:
        gather(app.store.articles, app.section_sources())
        engine = related_engine(app)
        ids = [a.id for a in app.store.articles.newest()]
        links = DigestLinks(engine, app.store.articles, limit=3).for_edition(ids)
        rng = random.Random(3)
        for _ in range(60):
            digest = rng.sample(ids, rng.randint(1, 20))
            expected = engine.related(digest, limit=3, exclude=digest)
            answers = links(digest, frozenset(digest))
            for article_id, found in zip(digest, answers, strict=True):
                got = [link.title for link in found]
                assert got == [r.title for r in expected.get(article_id, [])], article_id
    finally:
        app.close()


def test_a_block_key_holds_the_related_links_of_its_digest(app):
    stories(app)
    _, plan, render = variants(app)
    keys = {render.block_key(n) for v in plan.variants.values() for n in render.block_keys(v)}
    assert {name for name, _ in keys} == {"section", "article"}
    assert Path(ROOT / "templates" / "email" / "article.html.j2").exists()
