"""Articles carry a language (front matter `lang`, the feed's or entry's, a source's setting,
else the site's); readers read the languages they chose; feeds mark an item whose language
is not the feed's."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from publisher.digest.plan import planner
from publisher.feeds.build import build_feed_files, feed_infos
from publisher.gather import content_hash
from publisher.languages import language_tag
from publisher.models import Edition, EditionKind, SubscriberStatus
from publisher.pipeline import gather_and_publish
from publisher.sources.feed import _language
from publisher.store.subscribers import NewSubscriber
from publisher.subscribers.validate import parse_languages
from tests.conftest import base_settings
from tests.helpers import article, put_articles

NOW = datetime(2026, 12, 2, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "tag"),
    [("es", "es"), ("ES", "es"), ("pt_br", "pt-BR"), ("zh-hant-tw", "zh-Hant-TW"),
     ("", ""), (None, ""), ("spanish please", ""), ("e", ""), ("en-" + "x" * 40, "")],
)  # fmt: skip
def test_language_tags_are_read_leniently(raw: object, tag: str) -> None:
    assert language_tag(raw) == tag


def test_a_reader_names_languages_and_a_wrong_one_is_explained() -> None:
    from publisher.errors import UserError

    assert parse_languages("es, pt_BR;es") == ("es", "pt-BR")
    assert parse_languages("") == () and parse_languages([]) == ()
    with pytest.raises(UserError, match="'klingon please' is not a language tag"):
        parse_languages("es,klingon please")


def test_markdown_front_matter_gives_the_language(make_app, tmp_path: Path) -> None:
    folder = tmp_path / "content" / "opinion"
    folder.mkdir(parents=True)
    for slug, lang in (("uno", "lang: es\n"), ("deux", "language: fr-CA\n"), ("three", "")):
        (folder / f"{slug}.md").write_text(
            f"---\ntitle: {slug}\ndate: 2026-12-01T08:00:00Z\n{lang}---\n\nText.\n",
            encoding="utf-8",
        )
    app = make_app()
    gather_and_publish(app)
    found = {a.title: a.language for a in app.store.articles.newest()}
    assert found == {"uno": "es", "deux": "fr-CA", "three": ""}


def test_feed_entries_take_their_own_language_or_the_feeds() -> None:
    rss = feedparser.parse(
        b'<rss version="2.0"><channel><title>t</title><language>fr</language>'
        b"<item><title>a</title><link>https://x.example/a</link></item></channel></rss>"
    )
    assert _language(rss.entries[0], language_tag(rss.feed.get("language"))) == "fr"
    atom = feedparser.parse(
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"><title>t</title>'
        b'<entry xml:lang="es"><title>b</title><link href="https://x.example/b"/></entry>'
        b'<entry><title>c</title><link href="https://x.example/c"/></entry></feed>'
    )
    feed_language = language_tag(atom.feed.get("language"))
    assert [_language(e, feed_language) for e in atom.entries] == ["es", "en"]


def test_an_article_without_a_language_hashes_as_before() -> None:
    plain = article(1)
    # The hash of this article as the code before languages made it (measured on that code):
    # a stored archive is not seen as changed by the upgrade.
    assert content_hash(plain) == "db32997d44773a19a6d195d3ad60bd8a9e3c717682e3110b6ceba9dd93806e7b"
    assert content_hash(plain) == content_hash(replace(plain, language=""))
    assert content_hash(plain) != content_hash(replace(plain, language="es"))


def test_readers_get_only_articles_in_their_languages(make_app) -> None:
    app = make_app(base_settings(site={"name": "T", "url": "https://t.example", "language": "en"}))
    stories = [
        article(1, "opinion", published=NOW - timedelta(hours=3)),  # the site's: English
        article(2, "opinion", published=NOW - timedelta(hours=2), language="es"),
        article(3, "opinion", published=NOW - timedelta(hours=1), language="es-MX"),
        article(4, "opinion", published=NOW - timedelta(minutes=30), language="fr"),
    ]
    put_articles(app.store, stories, now=NOW - timedelta(hours=4))
    people = {}
    for name, languages in (("ana", ("es",)), ("bo", ("en", "fr")), ("cy", ())):
        people[name] = app.store.subscribers.add(
            NewSubscriber(
                email=f"{name}@example.org",
                sections=("opinion",),
                status=SubscriberStatus.CONFIRMED,
                languages=languages,
            ),
            now=NOW - timedelta(days=3),
        )
    edition = Edition(key="daily:2026-12-02", kind=EditionKind.DAILY, cutoff=NOW)
    plan = planner(
        app.store.editions,
        edition,
        section_order=["opinion"],
        cap=10,
        lookback=timedelta(days=3),
        site_language="en",
    ).plan(people.values())
    got = {s.email: {a.id for a in plan.variants[fp].articles} for s, fp in plan.recipients}
    assert got == {
        "ana@example.org": {"opinion/story-2", "opinion/story-3"},
        "bo@example.org": {"opinion/story-1", "opinion/story-4"},
        "cy@example.org": {f"opinion/story-{n}" for n in (1, 2, 3, 4)},
    }


def test_feeds_mark_the_items_not_in_the_feeds_language(make_app, atom_schema) -> None:
    app = make_app()
    [info] = [i for i in feed_infos(app.settings) if i.slug == "opinion"]
    items = [article(2, "opinion", language="es"), article(1, "opinion", language="en")]
    files = build_feed_files(info, items, "todaypress.example,2026")
    atom = etree.fromstring(files["opinion.atom.xml"])
    atom_schema.assertValid(atom)
    entries = atom.findall("{http://www.w3.org/2005/Atom}entry")
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    assert [e.get(lang) for e in entries] == ["es", None]  # English is the feed's own
    rss = etree.fromstring(files["opinion.rss.xml"])
    dc = "{http://purl.org/dc/elements/1.1/}language"
    assert [i.findtext(dc) for i in rss.iter("item")] == ["es", None]
    assert feedparser.parse(files["opinion.rss.xml"]).bozo == 0
    feed = json.loads(files["opinion.json"])
    assert [item.get("language") for item in feed["items"]] == ["es", None]
    plain = build_feed_files(info, [replace(a, language="") for a in items], "t.example,2026")
    plain_atom = etree.fromstring(plain["opinion.atom.xml"])
    assert all(e.get(lang) is None for e in plain_atom.iter("{http://www.w3.org/2005/Atom}entry"))
    assert b"dc:language" not in plain["opinion.rss.xml"]


# -- the digest's own words ------------------------------------------------------------------


def test_every_catalog_translates_every_message() -> None:
    from publisher.digest.i18n import catalog_gaps, catalog_languages, template_messages

    messages = template_messages()
    assert {"Read the full story", "Unsubscribe", "Hello %(name)s,"} <= messages
    assert set(catalog_languages()) >= {"es", "fr"}
    for language in catalog_languages():
        assert catalog_gaps(language) == set(), language


def test_a_spanish_reader_gets_spanish_words_and_dates_through_a_real_send(make_app) -> None:
    from email import message_from_bytes, policy

    from publisher.delivery.send import begin
    from publisher.delivery.transports import build_transport
    from publisher.pipeline import deliverer, mailer

    raw = base_settings(delivery={"transport": "outbox", "outbox": {"path": "outbox"}})
    raw["digest"] = {"related_links": 0}
    app = make_app(raw)
    stories = [
        article(1, "opinion", published=NOW - timedelta(hours=2), language="es"),
        article(2, "opinion", published=NOW - timedelta(hours=1)),
    ]
    put_articles(app.store, stories, now=NOW - timedelta(hours=3))
    for email, name, languages in (
        ("ana@example.org", "Ana", ("es",)),
        ("ben@example.org", "Ben", ()),
        ("zoe@example.org", "Zoé", ("fr", "es")),
    ):
        app.store.subscribers.add(
            NewSubscriber(
                email=email,
                name=name,
                sections=("opinion",),
                status=SubscriberStatus.CONFIRMED,
                languages=languages,
            ),
            now=NOW - timedelta(days=3),
        )
    edition = Edition(key="daily:2026-12-02", kind=EditionKind.DAILY, cutoff=NOW)
    planned = mailer(app).record(edition, now=NOW)
    assert planned.variants == 3  # the same articles in two languages are two variants
    begin(app.store.deliveries, planned)
    transport = build_transport(app.settings)
    try:
        deliverer(app, transport).run(edition_id=planned.edition.id, wait=False)
    finally:
        transport.close()
    mails = {}
    for path in app.settings.resolve("outbox").glob("**/*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        mails[str(message["To"]).split("<")[-1].rstrip(">")] = message
    spanish = mails["ana@example.org"]
    text = spanish.get_body(("plain",)).get_content()
    html = spanish.get_body(("html",)).get_content()
    assert "Hola, Ana:" in text and "miércoles, 2 de diciembre de 2026" in text
    assert "Leer: https://" in text and "Darse de baja: http" in text
    assert "Leer la noticia completa" in html and "Gestionar preferencias" in html
    assert "Story 1" in text and "Story 2" not in text  # only Spanish articles
    assert "2 de diciembre de 2026" in str(spanish["Subject"])
    english = mails["ben@example.org"].get_body(("plain",)).get_content()
    assert "Hello Ben," in english and "Wednesday, December 2, 2026" in english
    assert "Read: https://" in english and "Story 1" in english and "Story 2" in english
    french = mails["zoe@example.org"].get_body(("plain",)).get_content()
    assert "Bonjour Zoé," in french and "mercredi 2 décembre 2026" in french
    assert "Se désabonner" in french and "Story 1" in french and "Story 2" not in french
