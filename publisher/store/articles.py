"""Articles in the database: what gathering stores, and what feeds, digests and related read."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    case,
    func,
    select,
    update,
)

from publisher.models import Article, SourceState
from publisher.store.db import Database, chunks, dialect_insert, lock
from publisher.store.schema import articles, source_state

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class StoredArticle:
    """An article with the bookkeeping gathering keeps beside it."""

    article: Article
    source: str
    origin: str
    fingerprint: str
    content_hash: str


@dataclass(frozen=True, kw_only=True)
class Existing:
    """What the store knows of an article id, enough to tell new, changed and unchanged apart."""

    content_hash: str
    source: str
    origin: str
    fingerprint: str
    published: datetime
    updated: datetime


@dataclass(frozen=True, kw_only=True)
class SourceChanges:
    """What one source's gather writes: new and changed articles, moved files, its state."""

    new: Sequence[StoredArticle] = ()
    changed: Sequence[StoredArticle] = ()
    touched: Sequence[tuple[str, str, str]] = ()
    state: SourceState | None = None
    archive_before: datetime | None = None  # a first gather: older new articles are archive

    def __bool__(self) -> bool:
        return bool(self.new or self.changed or self.touched or self.state)


class ArticleStore:
    """All reads and writes of articles and source state; every write is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.engine = db.engine

    # -- gathering ---------------------------------------------------------------------

    def fingerprints(self, source: str) -> dict[str, str]:
        """origin → fingerprint of every article a source stored, for skipping unchanged files."""
        query = select(articles.c.origin, articles.c.fingerprint).where(articles.c.source == source)
        with self.engine.begin() as conn:
            return {row.origin: row.fingerprint for row in conn.execute(query)}

    def existing(self, ids: Iterable[str]) -> dict[str, Existing]:
        """What the store holds for each of these ids (absent ids are left out)."""
        with self.db.reading() as conn:
            return _existing(conn, ids)

    def apply(
        self,
        ids: Iterable[str],
        plan: Callable[[dict[str, Existing]], Sequence[SourceChanges]],
        *,
        now: datetime,
    ) -> None:
        """Read what the store holds of `ids`, let `plan` decide what to write, and write it,
        all in one transaction under the gather lock: two gathers at once take turns here,
        so each sees the other's articles and every article is stored (and counted) once."""
        with self.db.writing() as conn:
            lock(conn, "gather")
            _write_changes(conn, plan(_existing(conn, ids)), now)

    def save_gathered(
        self,
        *,
        new: Sequence[StoredArticle],
        changed: Sequence[StoredArticle],
        touched: Sequence[tuple[str, str, str]],
        state: SourceState | None,
        now: datetime,
    ) -> None:
        """Insert new, update changed, refresh fingerprints and source state in one transaction."""
        changes = SourceChanges(new=new, changed=changed, touched=touched, state=state)
        self.save_changes([changes], now=now)

    def save_changes(self, sources: Sequence[SourceChanges], *, now: datetime) -> None:
        """Save what several sources' gathers found, all in one transaction."""
        if any(sources):
            with self.db.writing() as conn:
                _write_changes(conn, sources, now)

    def source_state(self, key: str) -> SourceState:
        """The saved state of a source, or an empty one for a source never gathered."""
        with self.engine.begin() as conn:
            row = conn.execute(select(source_state).where(source_state.c.key == key)).first()
        if row is None:
            return SourceState(key=key)
        return SourceState(
            key=key,
            etag=row.etag,
            last_modified=row.last_modified,
            cursor=row.cursor,
            item_count=row.item_count,
            saved=True,
        )

    # -- reading -----------------------------------------------------------------------

    def newest(
        self,
        *,
        section: str | None = None,
        limit: int | None = None,
        drafts: bool = False,
        published_by: datetime | None = None,
    ) -> list[Article]:
        """Stored articles, newest first (ties by id), optionally of one section.

        `published_by` leaves out articles dated later (scheduled ones).
        """
        query = _newest(select(articles), section, limit, drafts, published_by)
        with self.engine.begin() as conn:
            return [article_from_row(row) for row in conn.execute(query)]

    def signature(
        self, *, section: str | None, limit: int, published_by: datetime | None = None
    ) -> list[tuple[str, str]]:
        """(id, content hash) of what `articles` would return: cheap to compare between runs."""
        columns = select(articles.c.id, articles.c.content_hash)
        query = _newest(columns, section, limit, False, published_by)
        with self.engine.begin() as conn:
            return [(row.id, row.content_hash) for row in conn.execute(query)]

    def all_versions(self, *, batch: int = 2000) -> Iterator[tuple[Article, str, datetime]]:
        """(article, content hash, last changed) of every article, drafts included, oldest
        change first, streamed in batches."""
        query = select(articles).order_by(articles.c.last_changed, articles.c.id)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(query)
            for row in result:
                yield article_from_row(row), row.content_hash, row.last_changed

    def change_log(self, since: datetime) -> list[tuple[str, str, datetime]]:
        """(id, content hash, last changed) of the articles changed at or after `since`."""
        query = (
            select(articles.c.id, articles.c.content_hash, articles.c.last_changed)
            .where(articles.c.last_changed >= since)
            .order_by(articles.c.last_changed, articles.c.id)
        )
        with self.engine.begin() as conn:
            return [(row.id, row.content_hash, row.last_changed) for row in conn.execute(query)]

    def by_ids(self, ids: Iterable[str]) -> dict[str, tuple[Article, str, datetime]]:
        """(article, content hash, last changed) of each of these ids that exists, drafts too."""
        found = {}
        with self.engine.begin() as conn:
            for chunk in chunks(list(ids)):
                for row in conn.execute(select(articles).where(articles.c.id.in_(chunk))):
                    found[row.id] = (article_from_row(row), row.content_hash, row.last_changed)
        return found

    def get(self, article_id: str) -> Article | None:
        """One article by id, or None."""
        with self.engine.begin() as conn:
            row = conn.execute(select(articles).where(articles.c.id == article_id)).first()
        return None if row is None else article_from_row(row)

    def by_url(self, url: str, *, published_by: datetime) -> Article | None:
        """The published article at this URL (not a draft, not a scheduled one), or None."""
        query = _newest(select(articles), None, 1, False, published_by)
        with self.engine.begin() as conn:
            row = conn.execute(query.where(articles.c.url == url)).first()
        return None if row is None else article_from_row(row)

    def count(self) -> int:
        """How many articles are stored, drafts included."""
        with self.engine.begin() as conn:
            return conn.execute(select(func.count()).select_from(articles)).scalar_one()


def _newest(
    query: Select[Any],
    section: str | None,
    limit: int | None,
    drafts: bool,
    published_by: datetime | None,
) -> Select[Any]:
    query = query.order_by(articles.c.published.desc(), articles.c.id)
    if section is not None:
        query = query.where(articles.c.section == section)
    if not drafts:
        query = query.where(articles.c.draft.is_(False))
    if published_by is not None:
        query = query.where(articles.c.published <= published_by)
    return query if limit is None else query.limit(limit)


def _existing(conn: Connection, ids: Iterable[str]) -> dict[str, Existing]:
    found: dict[str, Existing] = {}
    columns = (articles.c.id, articles.c.content_hash, articles.c.source, articles.c.origin)
    extra = (articles.c.fingerprint, articles.c.published, articles.c.updated)
    for chunk in chunks(list(dict.fromkeys(ids))):
        for row in conn.execute(select(*columns, *extra).where(articles.c.id.in_(chunk))):
            found[row.id] = Existing(
                content_hash=row.content_hash,
                source=row.source,
                origin=row.origin,
                fingerprint=row.fingerprint,
                published=row.published,
                updated=row.updated,
            )
    return found


def _write_changes(conn: Connection, sources: Sequence[SourceChanges], now: datetime) -> None:
    rows = [_new_row(item, changes, now) for changes in sources for item in changes.new]
    insert = dialect_insert(conn)(articles).on_conflict_do_nothing(index_elements=["id"])
    for chunk in chunks(rows):
        conn.execute(insert, chunk)
    for changes in sources:
        _save_source(conn, changes, now)


def _new_row(item: StoredArticle, changes: SourceChanges, now: datetime) -> dict[str, Any]:
    """A new article's row; one from a source's first gather dated before its archive line is
    archive: public since its date, so it feeds the feeds and related links but no digest."""
    published = item.article.published
    archive = changes.archive_before is not None and published < changes.archive_before
    return _row(item, now) | {"first_seen": now, "visible_since": published if archive else now}


def _save_source(conn: Connection, changes: SourceChanges, now: datetime) -> None:
    for item in changes.changed:
        values = _row(item, now)
        del values["id"]
        if not item.article.draft:  # a draft being published becomes public now
            values["visible_since"] = case(
                (articles.c.draft.is_(True), now), else_=articles.c.visible_since
            )
        conn.execute(update(articles).where(articles.c.id == item.article.id).values(values))
    for article_id, origin, fingerprint in changes.touched:
        conn.execute(
            update(articles)
            .where(articles.c.id == article_id)
            .values(origin=origin, fingerprint=fingerprint)
        )
    if changes.state is not None:
        _put_state(conn, changes.state, now)


def _put_state(conn: Connection, state: SourceState, now: datetime) -> None:
    values = {
        "key": state.key,
        "etag": state.etag,
        "last_modified": state.last_modified,
        "cursor": state.cursor,
        "item_count": state.item_count,
        "checked_at": now,
    }
    insert = dialect_insert(conn)(source_state).values(values)
    updates = {k: insert.excluded[k] for k in values if k != "key"}
    conn.execute(insert.on_conflict_do_update(index_elements=["key"], set_=updates))


def _row(item: StoredArticle, now: datetime) -> dict[str, Any]:
    article = item.article
    return {
        "id": article.id,
        "section": article.section,
        "url": article.url,
        "title": article.title,
        "summary": article.summary,
        "content": article.content,
        "authors": list(article.authors),
        "tags": list(article.tags),
        "published": article.published,
        "updated": article.updated,
        "image": article.image,
        "image_alt": article.image_alt,
        "draft": article.draft,
        "language": article.language,
        "source": item.source,
        "origin": item.origin,
        "fingerprint": item.fingerprint,
        "content_hash": item.content_hash,
        "last_changed": now,
    }


def article_from_row(row: Any) -> Article:
    return Article(
        id=row.id,
        url=row.url,
        title=row.title,
        summary=row.summary,
        content=row.content,
        section=row.section,
        authors=tuple(row.authors),
        tags=tuple(row.tags),
        published=row.published,
        updated=row.updated,
        image=row.image,
        image_alt=row.image_alt,
        draft=row.draft,
        language=row.language or "",
    )
