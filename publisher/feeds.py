"""Feed builders: RSS 2.0 and Atom 1.0 with feedgen, JSON Feed 1.1, from the same data. No I/O.

Output is deterministic: every date comes from the articles (never the clock), entries are
added in order, and the generator element is pinned, so the same articles give the same bytes.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from publisher import __version__
from publisher.models import Article
from publisher.sanitize import strip_forbidden as clean
from publisher.settings import Settings

ALL = "all"
KINDS = {"rss": "rss.xml", "atom": "atom.xml", "json": "json"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # "updated" of a feed with no items
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ATOM_LINK = "link"  # feedgen builds Atom elements without a namespace and sets xmlns on the root


class _AtomEntry(BaseEntryExtension):
    """Writes an Atom entry's id and links itself.

    feedgen 1.0.0 drops rel, type and length from entry links (its loop variable shadows
    the link data), which would turn the image enclosure into a second "alternate" link;
    and its id() and guid() set the RSS guid and the Atom id together, while the Atom id
    must be an IRI and the RSS guid stays the article id.
    """

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []
        self.atom_id = ""

    def add_link(self, **attributes: str) -> None:
        self.links.append(attributes)

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        entry_id = entry.find("id")
        if entry_id is not None and self.atom_id:
            entry_id.text = self.atom_id
        for link in entry.findall(ATOM_LINK):
            entry.remove(link)
        for attributes in self.links:
            etree.SubElement(entry, ATOM_LINK, attrib=attributes)
        return entry


@dataclass(frozen=True, kw_only=True)
class FeedInfo:
    """What one feed is about: its slug (a section or `all`), title, description and page."""

    slug: str
    title: str
    description: str
    home: str
    language: str
    feeds_url: str
    site_name: str
    hub: str = ""

    @property
    def section(self) -> str | None:
        """The section slug, or None for the whole-site feed."""
        return None if self.slug == ALL else self.slug

    def url(self, kind: str) -> str:
        """The public URL of this feed in one format (`rss`, `atom`, `json`)."""
        return f"{self.feeds_url}/{self.filename(kind)}"

    def filename(self, kind: str) -> str:
        """The file name of this feed in one format."""
        return f"{self.slug}.{KINDS[kind]}"


def feed_infos(settings: Settings) -> list[FeedInfo]:
    """One FeedInfo per section, then the whole-site feed `all`."""
    site = settings.site
    common = {
        "language": site.language,
        "feeds_url": settings.feeds.url or f"{site.url}/feeds",
        "site_name": site.name,
        "hub": settings.feeds.websub_hub,
    }
    infos = [
        FeedInfo(
            slug=section.slug,
            title=f"{site.name}: {section.title}",
            description=section.description or f"{section.title} from {site.name}",
            home=f"{site.url}/{section.slug}/",
            **common,
        )
        for section in settings.sections
    ]
    description = site.description or f"Everything new from {site.name}"
    infos.append(
        FeedInfo(slug=ALL, title=site.name, description=description, home=f"{site.url}/", **common)
    )
    return infos


def build_feed_files(
    info: FeedInfo, articles: Sequence[Article], tag_authority: str
) -> dict[str, bytes]:
    """The three files of one feed, by file name; `articles` newest first."""
    generator = _generator(info, articles)
    for article in articles:
        _add_entry(generator, article, tag_authority)
    _links(generator, info, "atom")
    atom = generator.atom_str(pretty=True)
    _links(generator, info, "rss")
    return {
        info.filename("rss"): generator.rss_str(pretty=True),
        info.filename("atom"): atom,
        info.filename("json"): json_feed(info, articles),
    }


def _links(generator: FeedGenerator, info: FeedInfo, kind: str) -> None:
    """The feed's links; rel=self differs per format, so they are set before each one is written."""
    mime = {"atom": "application/atom+xml", "rss": "application/rss+xml"}[kind]
    generator.link(href=info.url(kind), rel="self", type=mime, replace=True)
    if info.hub:
        generator.link(href=info.hub, rel="hub")
    generator.link(href=info.home, rel="alternate")  # last: feedgen makes it the RSS <link>


def _generator(info: FeedInfo, articles: Sequence[Article]) -> FeedGenerator:
    generator = FeedGenerator()
    generator.load_extension("dc", atom=False, rss=True)
    generator.load_extension("media", atom=True, rss=True)
    generator.register_extension("atom_fix", BaseExtension, _AtomEntry, atom=True, rss=False)
    generator.id(info.url("atom"))
    generator.title(clean(info.title))
    generator.subtitle(clean(info.description))  # also the RSS <description>
    generator.language(info.language)
    generator.author({"name": clean(info.site_name)})
    generator.generator(
        "publisher", version=__version__, uri="https://todaypress.example/publisher"
    )
    generator.docs("https://www.rssboard.org/rss-specification")
    newest = max((a.updated for a in articles), default=EPOCH)
    generator.updated(newest)  # atom:updated and RSS lastBuildDate, from the items
    generator.pubDate(max((a.published for a in articles), default=EPOCH))
    return generator


def _add_entry(generator: FeedGenerator, article: Article, tag_authority: str) -> None:
    entry = generator.add_entry(order="append")
    entry.guid(clean(article.id), permalink=_is_url(article.id))
    entry.atom_fix.atom_id = atom_id(article.id, tag_authority)
    entry.title(clean(article.title))
    entry.link(href=article.url, rel="alternate")
    entry.atom_fix.add_link(href=article.url, rel="alternate", type="text/html")
    entry.summary(clean(article.summary) or clean(article.title))
    entry.content(clean(article.content), type="html")  # after summary: RSS content:encoded
    for name in article.authors:
        entry.author({"name": clean(name)})
        entry.dc.dc_creator(clean(name))
    for term in (article.section, *article.tags):
        entry.category(term=clean(term))
    entry.published(article.published)
    entry.updated(article.updated)
    if article.image:
        mime = image_type(article.image)
        # RSS best practice: length 0 when the size is not known.
        entry.enclosure(article.image, "0", mime)
        entry.atom_fix.add_link(href=article.image, rel="enclosure", type=mime)
        entry.media.content(url=article.image, medium="image", type=mime, group=None)


def json_feed(info: FeedInfo, articles: Sequence[Article]) -> bytes:
    """A JSON Feed 1.1 document, keys in a fixed order."""
    feed = {
        "version": JSON_FEED_VERSION,
        "title": clean(info.title),
        "home_page_url": info.home,
        "feed_url": info.url("json"),
        "description": clean(info.description),
        "language": info.language,
        "authors": [{"name": clean(info.site_name)}],
        "items": [_json_item(article) for article in articles],
    }
    if info.hub:
        feed["hubs"] = [{"type": "WebSub", "url": info.hub}]
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _json_item(article: Article) -> dict[str, object]:
    item: dict[str, object] = {
        "id": clean(article.id),
        "url": article.url,
        "title": clean(article.title),
        "summary": clean(article.summary),
        "content_html": clean(article.content),
        "date_published": article.published.astimezone(UTC).isoformat(),
        "date_modified": article.updated.astimezone(UTC).isoformat(),
        "authors": [{"name": clean(name)} for name in article.authors],
        "tags": [clean(term) for term in (article.section, *article.tags)],
    }
    if article.image:
        item["image"] = article.image
    return item


def atom_id(article_id: str, tag_authority: str) -> str:
    """The id as an IRI: a URI id as it is, anything else as a tag: URI (RFC 4151)."""
    if ":" in article_id and urlsplit(article_id).scheme:
        return clean(article_id)
    return f"tag:{tag_authority}:{clean(article_id)}"


def image_type(url: str) -> str:
    """The MIME type of an image URL, by its extension (JPEG when it has none)."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))
