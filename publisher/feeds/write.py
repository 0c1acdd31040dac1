"""Writing the feeds: only what changed, atomically, then announcing changes to a WebSub hub."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from lxml import etree

from publisher import __version__
from publisher.feeds.build import EPOCH, KINDS, FeedInfo, build_feed_files, feed_infos
from publisher.feeds.websub import announce
from publisher.files import atomic_write
from publisher.models import FeedsReport
from publisher.settings import Settings
from publisher.store.articles import ArticleStore

log = logging.getLogger(__name__)
MANIFEST = ".manifest.json"


def publish_feeds(
    settings: Settings,
    store: ArticleStore,
    *,
    now: datetime,
    http: httpx.Client | None = None,
    force: bool = False,
) -> FeedsReport:
    """Rebuild every feed whose articles changed; write only files whose bytes differ.

    A feed that cannot be built is logged and reported, and the others are still written."""
    folder = settings.resolve(settings.feeds.path)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _Manifest.load(folder)
    report = FeedsReport()
    infos = feed_infos(settings)
    salt = _settings_key(settings, infos)
    for info in infos:
        key = _input_key(store, info, settings.feeds.items, now, salt)
        files = [folder / info.filename(kind) for kind in KINDS]
        if not force and manifest.keys.get(info.slug) == key and all(p.is_file() for p in files):
            report.unchanged += len(files)
            continue
        try:
            _write_feed(store, settings, info, folder, now, manifest, report)
        except (ValueError, TypeError, etree.LxmlError) as exc:
            report.failed.append(info.slug)
            log.error("feed not written slug=%s: %s: %s", info.slug, type(exc).__name__, exc)
            continue  # not recorded in the manifest: tried again next run
        manifest.keys[info.slug] = key
    write_if_changed(folder / MANIFEST, manifest.dump())
    if settings.feeds.websub_hub and http is not None and report.written:
        announce(http, settings.feeds.websub_hub, infos, report)
    return report


def _write_feed(
    store: ArticleStore,
    settings: Settings,
    info: FeedInfo,
    folder: Path,
    now: datetime,
    manifest: _Manifest,
    report: FeedsReport,
) -> None:
    articles = store.newest(section=info.section, limit=settings.feeds.items, published_by=now)
    # A feed without articles keeps the date it was first written empty, never 1970.
    empty_date = manifest.empty_date(info.slug, now) if not articles else EPOCH
    files = build_feed_files(info, articles, settings.tag_authority, empty_date=empty_date)
    for name, data in files.items():
        if write_if_changed(folder / name, data):
            report.written.append(name)
            log.info("feed written file=%s items=%d", name, len(articles))
        else:
            report.unchanged += 1


@dataclass(kw_only=True)
class _Manifest:
    """What the last run built each feed from, and the date of each feed that was empty."""

    keys: dict[str, str] = field(default_factory=dict)
    empty_dates: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> _Manifest:
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
            return cls()
        dates = data.get("empty_dates")
        return cls(keys=data["keys"], empty_dates=dates if isinstance(dates, dict) else {})

    def empty_date(self, slug: str, now: datetime) -> datetime:
        """The remembered date of an empty feed (now, the first time)."""
        try:
            return datetime.fromisoformat(self.empty_dates[slug])
        except (KeyError, TypeError, ValueError):
            self.empty_dates[slug] = now.replace(microsecond=0).isoformat()
            return datetime.fromisoformat(self.empty_dates[slug])

    def dump(self) -> bytes:
        data = {"keys": self.keys, "empty_dates": self.empty_dates}
        return json.dumps(data, indent=1, sort_keys=True).encode()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace `path` with `data` unless it holds exactly that; True if written."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    atomic_write(path, lambda handle: handle.write(data))
    return True


def _input_key(store: ArticleStore, info: FeedInfo, items: int, now: datetime, salt: str) -> str:
    signature = store.signature(section=info.section, limit=items, published_by=now)
    digest = hashlib.sha256(salt.encode())
    for article_id, content_hash in signature:
        digest.update(f"\x1e{article_id}\x1f{content_hash}".encode())
    return digest.hexdigest()


def _settings_key(settings: Settings, infos: list[FeedInfo]) -> str:
    """Everything besides the articles that shapes the bytes of a feed."""
    parts = [__version__, settings.tag_authority, str(settings.feeds.items), repr(infos)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
