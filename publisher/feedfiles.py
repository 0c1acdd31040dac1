"""Writing the feeds: only what changed, atomically, then announcing changes to a WebSub hub."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from publisher import __version__
from publisher.feeds import KINDS, FeedInfo, build_feed_files, feed_infos
from publisher.files import atomic_write
from publisher.settings import Settings
from publisher.store import Store

log = logging.getLogger(__name__)
MANIFEST = ".manifest.json"


@dataclass(kw_only=True)
class FeedsReport:
    """What one feeds run did: files written, files left as they were, hub announcements."""

    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    announced: int = 0
    announce_failed: int = 0

    def as_json(self) -> dict[str, Any]:
        """The object `publisher feeds --json` prints."""
        return {
            "written": self.written,
            "unchanged": self.unchanged,
            "files": len(self.written) + self.unchanged,
            "websub": {"announced": self.announced, "failed": self.announce_failed},
        }


def publish_feeds(
    settings: Settings,
    store: Store,
    *,
    now: datetime,
    http: httpx.Client | None = None,
    force: bool = False,
) -> FeedsReport:
    """Rebuild every feed whose articles changed; write only files whose bytes differ."""
    folder = settings.resolve(settings.feeds.path)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {} if force else _load_manifest(folder)
    report = FeedsReport()
    infos = feed_infos(settings)
    salt = _settings_key(settings, infos)
    for info in infos:
        key = _input_key(store, info, settings.feeds.items, now, salt)
        files = [folder / info.filename(kind) for kind in KINDS]
        if manifest.get(info.slug) == key and all(path.is_file() for path in files):
            report.unchanged += len(files)
            continue
        _write_feed(store, settings, info, folder, now, report)
        manifest[info.slug] = key
    write_if_changed(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    if settings.feeds.websub_hub and http is not None and report.written:
        _announce(http, settings.feeds.websub_hub, infos, report)
    return report


def _write_feed(
    store: Store,
    settings: Settings,
    info: FeedInfo,
    folder: Path,
    now: datetime,
    report: FeedsReport,
) -> None:
    articles = store.articles(section=info.section, limit=settings.feeds.items, published_by=now)
    files = build_feed_files(info, articles, tag_authority(settings))
    for name, data in files.items():
        if write_if_changed(folder / name, data):
            report.written.append(name)
            log.info("feed written file=%s items=%d", name, len(articles))
        else:
            report.unchanged += 1


def tag_authority(settings: Settings) -> str:
    """The `authority,date` part of tag: URIs, from the site's host and `feeds.tag_date`."""
    host = settings.site.url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
    return f"{host},{settings.feeds.tag_date}"


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace `path` with `data` unless it holds exactly that; True if written."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    atomic_write(path, lambda handle: handle.write(data))
    return True


def _input_key(store: Store, info: FeedInfo, items: int, now: datetime, salt: str) -> str:
    signature = store.signature(section=info.section, limit=items, published_by=now)
    digest = hashlib.sha256(salt.encode())
    for article_id, content_hash in signature:
        digest.update(f"\x1e{article_id}\x1f{content_hash}".encode())
    return digest.hexdigest()


def _settings_key(settings: Settings, infos: list[FeedInfo]) -> str:
    """Everything besides the articles that shapes the bytes of a feed."""
    parts = [__version__, tag_authority(settings), str(settings.feeds.items), repr(infos)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _load_manifest(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _announce(http: httpx.Client, hub: str, infos: list[FeedInfo], report: FeedsReport) -> None:
    """Tell the hub which feeds changed (WebSub publish); a failure is logged, never raised."""
    urls = {info.filename(kind): info.url(kind) for info in infos for kind in KINDS}
    for name in report.written:
        try:
            response = http.post(hub, data={"hub.mode": "publish", "hub.url": urls[name]})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            report.announce_failed += 1
            log.warning("websub announce failed hub=%s feed=%s: %s", hub, urls[name], exc)
        else:
            report.announced += 1
            log.info("websub announced hub=%s feed=%s", hub, urls[name])
