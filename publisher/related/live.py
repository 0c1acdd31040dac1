"""The related index of a long-running process: kept in memory, replaced after each gather."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.settings import RelatedSettings

if TYPE_CHECKING:
    from publisher.related.engine import RelatedEngine
    from publisher.related.index import RelatedIndex
    from publisher.store.articles import ArticleStore


class LiveRelated:
    """An index read by many threads (web pages, the scheduler's editions) and updated by
    one: an update works on a copy and then swaps it in, so a reader never sees half of one."""

    def __init__(self, store: ArticleStore, path: Path, settings: RelatedSettings) -> None:
        self.store = store
        self.path = path
        self.settings = settings
        self._index: RelatedIndex | None = None
        self._updating = threading.Lock()
        self._refreshed = 0.0
        # None: refreshed only when told (after each gather); else seconds after which
        # `engine()` looks for changes itself (a process that does not gather).
        self.stale_after: float | None = None

    def refresh(self, *, older_than: float | None = None) -> RelatedIndex:
        """Bring the index up to date with the store (loaded or built the first time);
        with `older_than`, only if no other thread did in the last that many seconds."""
        # Imported here: scikit-learn takes a second to import.
        from publisher.related.index import refresh_index, updated_copy

        with self._updating:
            current = self._index
            fresh = time.monotonic() - self._refreshed <= (older_than or 0)
            if current is not None and older_than is not None and fresh:
                return current
            if current is None:
                self._index = refresh_index(self.store, self.path)
            else:
                self._index = updated_copy(self.store, current, self.path)
            self._refreshed = time.monotonic()
            return self._index

    def engine(self) -> RelatedEngine:
        """The engine on the newest index (brought up to date on first use)."""
        from publisher.related.engine import RelatedEngine

        index = self._index
        stale = self.stale_after is not None and (
            time.monotonic() - self._refreshed > self.stale_after
        )
        if index is None or stale:
            index = self.refresh(older_than=self.stale_after)
        return RelatedEngine(index, self.settings)
