"""Articles from an upstream RSS or Atom feed, fetched with a conditional GET."""

from __future__ import annotations

from typing import Any

import feedparser

from publisher.errors import ItemRejected, SourceError
from publisher.models import Article, Candidate
from publisher.sanitize import clean_html, plain_text, strip_forbidden
from publisher.settings import FeedSourceSettings
from publisher.sources import fields, http
from publisher.sources.base import Batch, Previous, SourceContext
from publisher.store import SourceState


class FeedSource:
    """One RSS/Atom URL; a 304 answer costs no parsing at all."""

    def __init__(self, settings: FeedSourceSettings, context: SourceContext) -> None:
        self.key = f"{context.section}:feed:{settings.url}"
        self.url = settings.url
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
            return Batch(unchanged=previous.state.item_count, state=previous.state)
        if response.status >= 400:
            raise SourceError(self.url, f"HTTP {response.status}")
        parsed = _parse(response)
        batch = Batch(state=self._state(response, len(parsed.entries)))
        for index, entry in enumerate(parsed.entries, start=1):
            where = entry.get("link") or f"{self.url} (entry {index})"
            try:
                batch.candidates.append(self._candidate(entry, response.url, where))
            except ItemRejected as rejected:
                batch.rejections.append(rejected.as_rejection())
        return batch

    def _state(self, response: http.Fetched, count: int) -> SourceState:
        return SourceState(
            key=self.key,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            item_count=count,
        )

    def _candidate(self, entry: Any, base: str, where: str) -> Candidate:
        url = fields.absolute_url(entry.get("link"), base)
        if url is None:
            raise ItemRejected(where, "entry has no usable link")
        title = fields.required_text(entry.get("title"), where=where, key="title")
        published = fields.utc_from_struct(entry.get("published_parsed"))
        # dict.get: feedparser's own get() maps a missing updated_parsed to published_parsed
        # with a DeprecationWarning.
        updated = fields.utc_from_struct(dict.get(entry, "updated_parsed"))
        if published is None and updated is None:
            raw = entry.get("published") or dict.get(entry, "updated")
            reason = f"cannot parse date {raw!r}" if raw else "entry has no date"
            raise ItemRejected(where, reason)
        raw_html = _body(entry)
        fields.check_size(
            len(raw_html.encode()), limit=self.context.gather.max_article_bytes, where=where
        )
        content = clean_html(raw_html, url)
        summary = plain_text(entry.get("summary", "")) or plain_text(content)
        article = Article(
            id=strip_forbidden(str(entry.get("id") or url)).strip() or url,
            url=url,
            title=title,
            summary=fields.summary_from(summary),
            content=content,
            section=self.context.section,
            authors=_authors(entry, where),
            tags=fields.text_list(
                [t.get("term") for t in entry.get("tags", [])], where=where, key="tags"
            ),
            published=published or updated,  # type: ignore[arg-type]
            updated=max(d for d in (published, updated) if d is not None),
            image=_image(entry, url),
            image_alt=None,
        )
        return Candidate(article=article, origin=where)


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
    for content in entry.get("content", []):
        if content.get("value"):
            return str(content["value"])
    return str(entry.get("summary", ""))


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
