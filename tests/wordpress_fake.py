"""A small stand-in for WordPress's /wp-json/wp/v2/posts, with the parts publisher relies on.

Dates are kept as WordPress keeps them: each post has `date`/`modified` in the site's own time
zone and `date_gmt`/`modified_gmt` in UTC, and `modified_after` is compared as WordPress 6
compares it. WP_REST_Posts_Controller::prepare_items_query turns it into a date query on the
local `post_modified` column; WP_Date_Query::build_mysql_datetime reads a value that is not
plain `Y`, `Y-m`, `Y-m-d` or `Y-m-d H:i` with `date_create( $datetime, wp_timezone() )`
("Assume local timezone if not provided": an offset in the value wins, a value without one is
read in the site's zone), converts it to the site's zone with setTimezone and formats it as
local `Y-m-d H:i:s`; `after` is exclusive (`>`), as `inclusive` is false by default.
(wp-includes/class-wp-date-query.php, wp-includes/rest-api/endpoints/
class-wp-rest-posts-controller.php.)
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any


def post(
    n: int, *, category: int = 3, modified: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """One post as the REST API returns it with `_embed`."""
    data: dict[str, Any] = {
        "id": n,
        "date_gmt": f"2026-11-{n % 27 + 1:02d}T09:00:00",
        "modified_gmt": modified or f"2026-11-{n % 27 + 1:02d}T09:30:00",
        "guid": {"rendered": f"https://wp.example/?p={n}"},
        "link": f"https://wp.example/2026/11/post-{n}/",
        "title": {"rendered": f"Post number {n} &#8211; update"},
        "excerpt": {"rendered": f"<p>Excerpt of post {n}&hellip;</p>"},
        "content": {
            "rendered": f'<p>Body {n} with <a href="/related/">a link</a>.</p><script>x()</script>'
        },
        "categories": [category],
        "_embedded": {
            "author": [{"name": "Mara Quinn"}],
            "wp:featuredmedia": [
                {"source_url": f"/wp-content/uploads/{n}.jpg", "alt_text": f"Picture {n}"}
            ],
            "wp:term": [
                [{"taxonomy": "category", "name": "World"}],
                [
                    {"taxonomy": "post_tag", "name": "elections"},
                    {"taxonomy": "post_tag", "name": "europe"},
                ],
            ],
        },
    }
    data.update(overrides)
    return data


@dataclass
class FakeWordPress:
    """Answers like WordPress: category filter, modified_after, pages of at most `max_per_page`."""

    posts: list[Any] = field(default_factory=list)
    zone: tzinfo = UTC  # the site's time zone (Settings → General → Timezone)
    max_per_page: int = 3
    slow_pages: dict[int, float] = field(default_factory=dict)
    failing_pages: dict[int, int] = field(default_factory=dict)

    def __call__(
        self, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        page = int(query.get("page", ["1"])[0])
        per_page = min(int(query.get("per_page", ["10"])[0]), self.max_per_page)
        if page in self.slow_pages:
            time.sleep(self.slow_pages[page])
        if page in self.failing_pages:
            return self.failing_pages[page], {}, b'{"code":"internal_server_error"}'
        selected = [p for p in map(self._local, self.posts) if self._matches(p, query)]
        selected.sort(
            key=lambda p: (
                (p.get("modified_gmt", ""), p.get("id", 0)) if isinstance(p, dict) else ("", 0)
            )
        )
        pages = max(1, math.ceil(len(selected) / per_page))
        if page > pages:
            return 400, {}, b'{"code":"rest_post_invalid_page_number"}'
        chunk = selected[(page - 1) * per_page : page * per_page]
        meta = {
            "X-WP-Total": str(len(selected)),
            "X-WP-TotalPages": str(pages),
            "Content-Type": "application/json",
        }
        return 200, meta, json.dumps(chunk).encode()

    def _local(self, item: Any) -> Any:
        """The post with its local `date` and `modified` filled in from the GMT ones."""
        if not isinstance(item, dict):
            return item
        local = dict(item)
        for key in ("date", "modified"):
            gmt = item.get(f"{key}_gmt")
            if gmt and key not in item and _parses(gmt):
                moment = datetime.fromisoformat(gmt).replace(tzinfo=UTC).astimezone(self.zone)
                local[key] = moment.strftime("%Y-%m-%dT%H:%M:%S")
        return local

    def _matches(self, item: Any, query: dict[str, list[str]]) -> bool:
        if not isinstance(item, dict):
            return True
        if "categories" in query and int(query["categories"][0]) not in item.get("categories", []):
            return False
        after = query.get("modified_after", [None])[0]
        if not after:
            return True
        local_after = self._site_time(after)
        return item.get("modified", "").replace("T", " ") > local_after

    def _site_time(self, value: str) -> str:
        """`modified_after` as WP_Date_Query::build_mysql_datetime makes it: read with
        date_create( value, wp_timezone() ), set to the site's zone, as local Y-m-d H:i:s."""
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)  # "Assume local timezone if not provided"
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")


def _parses(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
