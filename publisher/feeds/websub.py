"""WebSub: telling a hub which feeds changed, so subscribers' readers fetch them at once."""

from __future__ import annotations

import logging

import httpx

from publisher.feeds.build import KINDS, FeedInfo
from publisher.models import FeedsReport

log = logging.getLogger(__name__)


def announce(http: httpx.Client, hub: str, infos: list[FeedInfo], report: FeedsReport) -> None:
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
