"""Articles from WordPress's REST API (`/wp-json/wp/v2/posts`), incrementally by modified date."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from publisher.errors import ItemRejected, SourceError
from publisher.languages import language_tag
from publisher.models import Article, Candidate, SourceState
from publisher.sanitize import clean_html, plain_text
from publisher.settings import WordPressSourceSettings
from publisher.sources import fields, http
from publisher.sources.base import Batch, Previous, SourceContext

PER_PAGE = 100
# `modified_after` is exclusive and compared with what WordPress has committed; step back a
# safety overlap so a post saved in the same second as the last one seen, or committed a
# little late, is not missed (re-reading a post is harmless: its content hash skips it).
_OVERLAP = timedelta(minutes=10)


class WordPressSource:
    """Posts of one category, paginated, asking only for those modified since the last gather."""

    def __init__(self, settings: WordPressSourceSettings, context: SourceContext) -> None:
        suffix = f":category={settings.category}" if settings.category else ""
        self.key = f"{context.section}:wordpress:{settings.url}{suffix}"
        self.posts_url = f"{settings.url}/posts"
        self.category = settings.category
        self.language = language_tag(settings.language)
        self.host = httpx.URL(settings.url).host
        self.context = context

    def fetch(self, previous: Previous) -> Batch:
        """Read every page of changed posts; a failing page keeps the earlier pages' posts."""
        batch = Batch()
        newest = previous.state.cursor
        page, pages = 1, 1
        while page <= pages:
            try:
                posts, pages = self._page(page, previous.state.cursor)
            except SourceError as exc:
                if page == 1:
                    raise
                batch.error = exc
                return batch  # state not saved: the next gather asks again from the old cursor
            for post in posts:
                self._add(post, batch)
                modified = _modified(post)
                newest = max(newest or modified, modified) if modified else newest
            page += 1
        batch.state = SourceState(key=self.key, cursor=newest, item_count=len(batch.candidates))
        return batch

    def _page(self, page: int, cursor: str | None) -> tuple[list[Any], int]:
        params: dict[str, str | int] = {
            "per_page": PER_PAGE,
            "page": page,
            "orderby": "modified",
            "order": "asc",
            "_embed": "1",
        }
        if self.category:
            params["categories"] = self.category
        if cursor:
            # With an explicit offset: WordPress reads a value without one in the site's own
            # zone (WP_Date_Query), which on a site west of UTC would skip recent edits.
            since = datetime.fromisoformat(cursor).replace(tzinfo=UTC) - _OVERLAP
            params["modified_after"] = since.isoformat(timespec="seconds")
        response = http.get(
            self.context.http,
            self.posts_url,
            params=params,
            max_bytes=self.context.gather.max_response_bytes,
            deadline=self.context.gather.http_timeout,
        )
        where = f"{self.posts_url}?page={page}"
        if response.status == 400 and page > 1:
            return [], 0  # WordPress answers 400 rest_post_invalid_page_number past the end
        if response.status >= 400:
            raise SourceError(where, f"HTTP {response.status}")
        try:
            posts = json.loads(response.body)
        except ValueError:
            raise SourceError(where, "not JSON (is the URL the /wp-json/wp/v2 base?)") from None
        if not isinstance(posts, list):
            raise SourceError(where, "expected a JSON list of posts")
        return posts, _total_pages(response, page, len(posts))

    def _add(self, post: Any, batch: Batch) -> None:
        where = _where(post, self.posts_url)
        try:
            batch.candidates.append(Candidate(article=self._article(post, where), origin=where))
        except ItemRejected as rejected:
            batch.rejections.append(rejected.as_rejection())
        except (KeyError, TypeError, AttributeError) as exc:
            batch.rejections.append(ItemRejected(where, f"malformed post: {exc!r}").as_rejection())

    def _article(self, post: dict[str, Any], where: str) -> Article:
        url = fields.absolute_url(post.get("link"), self.posts_url)
        if url is None:
            raise ItemRejected(where, "post has no usable link")
        raw_html = _rendered(post, "content")
        limit = self.context.gather.max_article_bytes
        fields.check_size(len(raw_html.encode()), limit=limit, where=where)
        content = clean_html(raw_html, url)
        published = self._date(post, "date", where)
        embedded = post.get("_embedded") or {}
        image, image_alt = _featured(embedded, url)
        summary = plain_text(_rendered(post, "excerpt")) or plain_text(content)
        title = plain_text(_rendered(post, "title")) or fields.title_from(summary)
        if not title:
            raise ItemRejected(where, "post has neither a title nor any text")
        return Article(
            id=fields.article_id(
                plain_text(_rendered(post, "guid")),
                fallback=url,
                source=self.posts_url,
                authority=self.context.tag_authority,
            ),
            url=url,
            title=title,
            summary=fields.summary_from(summary),
            content=content,
            section=self.context.section,
            authors=fields.text_list(
                [a.get("name") for a in embedded.get("author", []) if isinstance(a, dict)],
                where=where,
                key="authors",
            ),
            tags=_tags(embedded, where),
            published=published,
            updated=max(published, self._date(post, "modified", where, default=published)),
            image=image,
            image_alt=image_alt,
            language=self.language,
        )

    def _date(
        self, post: dict[str, Any], key: str, where: str, default: datetime | None = None
    ) -> datetime:
        gmt = post.get(f"{key}_gmt")
        if gmt:
            return fields.parse_date(gmt, zone=UTC, where=where, key=f"{key}_gmt")
        if post.get(key):
            return fields.parse_date(post[key], zone=self.context.site.zone, where=where, key=key)
        if default is not None:
            return default
        raise ItemRejected(where, f"{key}: post has no date")


def _where(post: Any, posts_url: str) -> str:
    if isinstance(post, dict):
        return str(post.get("link") or f"{posts_url}/{post.get('id', '?')}")
    return f"{posts_url} (an item that is not an object)"


def _rendered(post: dict[str, Any], key: str) -> str:
    value = post.get(key)
    if isinstance(value, dict):
        value = value.get("rendered")
    return value if isinstance(value, str) else ""


def _modified(post: Any) -> str | None:
    if not isinstance(post, dict):
        return None
    value = post.get("modified_gmt") or post.get("date_gmt")
    return value if isinstance(value, str) and value else None


def _total_pages(response: http.Fetched, page: int, count: int) -> int:
    header = response.headers.get("x-wp-totalpages")
    if header and header.isdigit():
        return int(header)
    return page + 1 if count >= PER_PAGE else page


def _featured(embedded: dict[str, Any], base: str) -> tuple[str | None, str | None]:
    for media in embedded.get("wp:featuredmedia", []):
        if isinstance(media, dict) and media.get("source_url"):
            return fields.absolute_url(media["source_url"], base), fields.optional_text(
                media.get("alt_text")
            )
    return None, None


def _tags(embedded: dict[str, Any], where: str) -> tuple[str, ...]:
    names = [
        term.get("name")
        for group in embedded.get("wp:term", [])
        if isinstance(group, list)
        for term in group
        if isinstance(term, dict) and term.get("taxonomy") == "post_tag"
    ]
    return fields.text_list(names, where=where, key="tags")
