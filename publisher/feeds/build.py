"""Feed builders: RSS 2.0 and Atom 1.0 with feedgen, JSON Feed 1.1, from the same data. No I/O.

Output is deterministic: every date comes from the articles (never the clock), entries are
added in order, and the generator element is pinned, so the same articles give the same bytes.
"""

from __future__ import annotations

import html
import json
import logging
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
from publisher.uris import has_scheme, tag_uri, valid_uri_id, web_uri

log = logging.getLogger(__name__)

ALL = "all"
KINDS = {"rss": "rss.xml", "atom": "atom.xml", "json": "json"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ATOM_LINK = "link"  # feedgen builds Atom elements without a namespace and sets xmlns on the root


class _EntryFix(BaseEntryExtension):
    """Writes what feedgen 1.0.0 gets wrong in an entry.

    Atom: feedgen drops rel, type and length from entry links (its loop variable shadows
    the link data), which would turn the image enclosure into a second "alternate" link;
    and its id() and guid() set the RSS guid and the Atom id together, while the Atom id
    must be an IRI and the RSS guid stays the article id.
    RSS: `<description>` is read as HTML by feed readers, while feedgen writes the same
    plain-text summary there as into Atom's `<summary>` (type text); it is escaped here.
    """

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []
        self.atom_id = ""
        self.rss_description = ""
        self.language = ""  # the entry's own language, when it is not the feed's

    def add_link(self, **attributes: str) -> None:
        self.links.append(attributes)

    def extend_rss(self, item: etree._Element) -> etree._Element:
        description = item.find("description")
        if description is not None:
            description.text = self.rss_description
        return item

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        entry_id = entry.find("id")
        if entry_id is not None and self.atom_id:
            entry_id.text = self.atom_id
        for link in entry.findall(ATOM_LINK):
            entry.remove(link)
        for attributes in self.links:
            etree.SubElement(entry, ATOM_LINK, attrib=attributes)
        if self.language:
            entry.set(XML_LANG, self.language)
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
    info: FeedInfo,
    articles: Sequence[Article],
    tag_authority: str,
    *,
    empty_date: datetime = EPOCH,
) -> dict[str, bytes]:
    """The three files of one feed, by file name; `articles` newest first.

    An article that cannot be written (no title and no summary, no usable link) is logged
    with its id and left out; the feed is written with the others. `empty_date` dates a
    feed that has no articles at all."""
    writable = [article for article in articles if _writable(article)]
    generator = _generator(info, writable, empty_date)
    for article in writable:
        _add_entry(generator, article, tag_authority, info.language)
    _links(generator, info, "atom")
    atom = generator.atom_str(pretty=True)
    _links(generator, info, "rss")
    return {
        info.filename("rss"): generator.rss_str(pretty=True),
        info.filename("atom"): atom,
        info.filename("json"): json_feed(info, writable),
    }


def _writable(article: Article) -> bool:
    """True when the article has what every format needs; else it is logged and skipped."""
    problem = None
    if not clean(article.title).strip() and not clean(article.summary).strip():
        problem = "no title and no summary"
    elif not clean(article.id).strip():
        problem = "no id"
    elif web_uri(article.url) is None:
        problem = f"link {article.url!r} is not an http(s) URL"
    if problem:
        log.error("feed entry skipped id=%s: %s", article.id, problem)
    return problem is None


def _links(generator: FeedGenerator, info: FeedInfo, kind: str) -> None:
    """The feed's links; rel=self differs per format, so they are set before each one is written."""
    mime = {"atom": "application/atom+xml", "rss": "application/rss+xml"}[kind]
    generator.link(href=info.url(kind), rel="self", type=mime, replace=True)
    if info.hub:
        generator.link(href=info.hub, rel="hub")
    generator.link(href=info.home, rel="alternate")  # last: feedgen makes it the RSS <link>


def _generator(info: FeedInfo, articles: Sequence[Article], empty_date: datetime) -> FeedGenerator:
    generator = FeedGenerator()
    generator.load_extension("dc", atom=False, rss=True)
    generator.load_extension("media", atom=True, rss=True)
    generator.register_extension("fix", BaseExtension, _EntryFix, atom=True, rss=True)
    generator.id(info.url("atom"))
    generator.title(clean(info.title))
    generator.subtitle(clean(info.description))  # also the RSS <description>
    generator.language(info.language)
    generator.author({"name": clean(info.site_name)})
    generator.generator(
        "publisher", version=__version__, uri="https://todaypress.example/publisher"
    )
    generator.docs("https://www.rssboard.org/rss-specification")
    # atom:updated and RSS lastBuildDate, from the items (a feed without any: `empty_date`).
    generator.updated(max((a.updated for a in articles), default=empty_date))
    if articles:
        generator.pubDate(max(a.published for a in articles))
    return generator


def _add_entry(
    generator: FeedGenerator, article: Article, tag_authority: str, feed_language: str
) -> None:
    entry = generator.add_entry(order="append")
    language = own_language(article, feed_language)
    if language:  # Atom: xml:lang on the entry; RSS: dc:language on the item
        entry.fix.language = language
        entry.dc.dc_language(language)
    url = web_uri(article.url) or article.url
    rss_guid = guid(article.id)
    entry.guid(rss_guid, permalink=_is_url(rss_guid) and web_uri(rss_guid) == rss_guid)
    entry.fix.atom_id = atom_id(article.id, tag_authority)
    title = clean(article.title).strip() or clean(article.summary)
    entry.title(title)
    entry.link(href=url, rel="alternate")
    entry.fix.add_link(href=url, rel="alternate", type="text/html")
    summary = clean(article.summary) or title
    entry.summary(summary)  # Atom <summary>, type text
    entry.fix.rss_description = html.escape(summary, quote=False)  # RSS reads it as HTML
    if clean(article.content).strip():
        entry.content(clean(article.content), type="html")  # after summary: content:encoded
    for name in article.authors:
        entry.author({"name": clean(name)})
        entry.dc.dc_creator(clean(name))
    for term in (article.section, *article.tags):
        entry.category(term=clean(term))
    entry.published(article.published)
    entry.updated(article.updated)
    image = web_uri(article.image) if article.image else None
    if image:
        mime = image_type(image)
        # RSS best practice: length 0 when the size is not known.
        entry.enclosure(image, "0", mime)
        entry.fix.add_link(href=image, rel="enclosure", type=mime)
        entry.media.content(url=image, medium="image", type=mime, group=None)


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
        "items": [_json_item(article, info.language) for article in articles],
    }
    if info.hub:
        feed["hubs"] = [{"type": "WebSub", "url": info.hub}]
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def own_language(article: Article, feed_language: str) -> str:
    """The article's language when it is not the feed's (which its items then inherit)."""
    if article.language and article.language.lower() != feed_language.lower():
        return article.language
    return ""


def _json_item(article: Article, feed_language: str) -> dict[str, object]:
    title = clean(article.title).strip() or clean(article.summary)
    summary = clean(article.summary) or title
    item: dict[str, object] = {
        "id": clean(article.id),
        "url": web_uri(article.url) or article.url,
        "title": title,
        "summary": summary,
    }
    # content_html is HTML; an article without a body carries its summary as content_text.
    if clean(article.content).strip():
        item["content_html"] = clean(article.content)
    else:
        item["content_text"] = summary
    item.update(
        {
            "date_published": article.published.astimezone(UTC).isoformat(),
            "date_modified": article.updated.astimezone(UTC).isoformat(),
            "authors": [{"name": clean(name)} for name in article.authors],
            "tags": [clean(term) for term in (article.section, *article.tags)],
        }
    )
    image = web_uri(article.image) if article.image else None
    if image:
        item["image"] = image
    if language := own_language(article, feed_language):
        item["language"] = language
    return item


def atom_id(article_id: str, tag_authority: str) -> str:
    """The id as an IRI: a valid URI id as it is, anything else as a tag: URI (RFC 4151)."""
    value = clean(article_id)
    if has_scheme(value) and valid_uri_id(value):
        return value
    return tag_uri(tag_authority, value)


def guid(article_id: str) -> str:
    """The RSS guid: the article id, a URL one as a URI (a permalink must be one)."""
    value = clean(article_id)
    return (web_uri(value) or value) if _is_url(value) else value


def image_type(url: str) -> str:
    """The MIME type of an image URL, by its extension (JPEG when it has none)."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))
