"""Articles from an upstream RSS or Atom feed, fetched with a conditional GET."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import feedparser
import httpx

from publisher.errors import ItemRejected, SourceError
from publisher.languages import language_tag
from publisher.models import Article, Candidate, SourceState
from publisher.sanitize import clean_html, plain_text, text_to_html
from publisher.settings import FeedSourceSettings
from publisher.sources import fields, http
from publisher.sources.base import Batch, Previous, SourceContext


class FeedSource:
    """One RSS/Atom URL; a 304 answer costs no parsing at all."""

    def __init__(self, settings: FeedSourceSettings, context: SourceContext) -> None:
        self.key = f"{context.section}:feed:{settings.url}"
        self.url = settings.url
        self.host = httpx.URL(settings.url).host
        self.context = context

    def fetch(self, previous: Previous) -> Batch:
        """Fetch the feed unless it is unchanged, and turn each entry into an article."""
        response = http.get(
            self.context.http,
            self.url,
            headers=_validators(previous.state),
            max_bytes=self.context.gather.max_response_bytes,
            deadline=self.context.gather.http_timeout,
        )
        if response.status == 304:
            return Batch(
                unchanged=previous.state.item_count, state=previous.state, not_modified=True
            )
        if response.status >= 400:
            raise SourceError(self.url, f"HTTP {response.status}")
        parsed = _parse(response)
        batch = Batch()
        language = language_tag(parsed.feed.get("language"))
        for index, entry in enumerate(parsed.entries, start=1):
            where = entry.get("link") or entry.get("id") or f"{self.url} (entry {index})"
            try:
                found = self._candidate(entry, response.url, str(where), language)
                batch.candidates.append(found)
            except ItemRejected as rejected:
                batch.rejections.append(rejected.as_rejection())
        # Only accepted items count: a 304 later reports exactly these as unchanged.
        batch.state = self._state(response, len(batch.candidates))
        return batch

    def _state(self, response: http.Fetched, count: int) -> SourceState:
        return SourceState(
            key=self.key,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            item_count=count,
        )

    def _candidate(self, entry: Any, base: str, where: str, feed_language: str) -> Candidate:
        upstream_id = str(entry.get("id") or "")
        url = fields.absolute_url(entry.get("link"), base) or _id_as_link(upstream_id)
        if url is None:
            raise ItemRejected(where, "entry has no usable link (and its id is not a URL)")
        raw_html = _body(entry)
        limit = self.context.gather.max_article_bytes
        fields.check_size(len(raw_html.encode()), limit=limit, where=where)
        content = clean_html(raw_html, url)
        summary = _text(entry, "summary", where) or plain_text(content)
        title = _text(entry, "title", where) or fields.title_from(summary)
        if not title:
            raise ItemRejected(where, "entry has neither a title nor a description")
        published, updated = _dates(entry, where)
        article = Article(
            id=fields.article_id(
                upstream_id, fallback=url, source=self.url, authority=self.context.tag_authority
            ),
            url=url,
            title=title,
            summary=fields.summary_from(summary),
            content=content,
            section=self.context.section,
            authors=_authors(entry, where),
            tags=fields.text_list(
                [t.get("term") for t in entry.get("tags", [])], where=where, key="tags"
            ),
            published=published or _first_seen(),
            updated=updated or published or _first_seen(),
            image=_image(entry, url),
            image_alt=None,
            language=_language(entry, feed_language),
        )
        return Candidate(article=article, origin=where, dateless=published is None)


def _language(entry: Any, feed_language: str) -> str:
    """The entry's language (Atom xml:lang on its title or content), else the feed's (RSS
    <language>, Atom xml:lang on the feed)."""
    for detail in (entry.get("title_detail"), *entry.get("content", [])):
        if detail and (found := language_tag(detail.get("language"))):
            return found
    return feed_language


def _first_seen() -> datetime:
    """The date of an item that has none (gathering keeps the stored one on later runs)."""
    return datetime.now(UTC).replace(microsecond=0)


def _dates(entry: Any, where: str) -> tuple[datetime | None, datetime | None]:
    """(published, updated) of an entry; (None, None) for an entry without any date."""
    published = fields.utc_from_struct(entry.get("published_parsed"))
    # dict.get: feedparser's own get() maps a missing updated_parsed to published_parsed
    # with a DeprecationWarning.
    updated = fields.utc_from_struct(dict.get(entry, "updated_parsed"))
    if published is None and updated is None:
        raw = entry.get("published") or dict.get(entry, "updated")
        if raw:
            raise ItemRejected(where, f"cannot parse date {raw!r}")
        return None, None
    first = published or updated
    assert first is not None
    return first, max(d for d in (published, updated) if d is not None)


def _id_as_link(upstream_id: str) -> str | None:
    """An entry's id used as its link when it is an http(s) URL (as feed readers do)."""
    if upstream_id.startswith(("http://", "https://")):
        return fields.absolute_url(upstream_id, upstream_id)
    return None


def _is_markup(detail: Any) -> bool:
    """True unless feedparser says the value is plain text (Atom type="text", or its guess)."""
    kind = str((detail or {}).get("type", "text/html"))
    return kind != "text/plain"


def _text(entry: Any, key: str, where: str) -> str:
    """The plain text of a title or summary, read by its type: HTML reduced to its text,
    plain text kept as written."""
    markup = _is_markup(entry.get(f"{key}_detail"))
    return fields.text_of(entry.get(key), where=where, key=key, markup=markup)


def _validators(state: SourceState) -> dict[str, str]:
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _parse(response: http.Fetched) -> Any:
    headers = {
        "content-location": response.url,
        "content-type": response.headers.get("content-type", ""),
    }
    try:
        parsed = feedparser.parse(response.body, response_headers=headers)
    except Exception as exc:  # feedparser raises arbitrary errors on some malformed input
        raise SourceError(response.url, f"cannot parse the feed: {exc}") from None
    if not parsed.get("version") and not parsed.entries:
        detail = parsed.get("bozo_exception") or "no RSS or Atom root element"
        raise SourceError(response.url, f"not an RSS or Atom feed ({detail})")
    return parsed


def _body(entry: Any) -> str:
    """The entry's body as HTML: its content, else its summary; plain text is escaped."""
    for content in entry.get("content", []):
        if content.get("value"):
            return _as_html(str(content["value"]), content)
    return _as_html(str(entry.get("summary") or ""), entry.get("summary_detail"))


def _as_html(value: str, detail: Any) -> str:
    return value if _is_markup(detail) else text_to_html(value)


def _authors(entry: Any, where: str) -> tuple[str, ...]:
    names = [a.get("name") for a in entry.get("authors", []) if a.get("name")]
    if not names and entry.get("author"):
        names = [entry["author"]]
    return fields.text_list(names, where=where, key="authors")


def _image(entry: Any, base: str) -> str | None:
    for media in entry.get("media_content", []):
        if media.get("medium") == "image" or str(media.get("type", "")).startswith("image/"):
            return fields.absolute_url(media.get("url"), base)
    for link in entry.get("links", []):
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            return fields.absolute_url(link.get("href"), base)
    for thumb in entry.get("media_thumbnail", []):
        return fields.absolute_url(thumb.get("url"), base)
    return None
