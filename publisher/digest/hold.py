"""The safety hold of automatic sends: reasons an edition looks wrong before it goes out.

- no articles at all;
- more than `hold_growth` times the median article count of the last `hold_history`
  editions of its kind (a source that suddenly floods, a date bug that makes old news new);
- most readers would get the same articles as in their previous digest. Articles are tracked
  by id and never sent twice, so this happens when a source changed its ids: the same stories
  come back as new. "The same" is judged by link and title, not id.

Manual sends are never held: the editor is already looking."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from publisher.models import Article, Edition
from publisher.settings import DigestSettings
from publisher.store import Store


def hold_reasons(store: Store, edition: Edition, settings: DigestSettings) -> list[str]:
    """Why this planned edition should wait for an editor (empty: it may go)."""
    assert edition.id is not None
    variants = store.editions.variants(edition.id)
    carried = {article_id for _, ids in variants.values() for article_id in ids}
    if not carried:
        return ["no articles: nothing is new for any reader"]
    reasons = []
    slot = slot_of(edition.key)
    counts = store.editions.article_counts(
        edition.kind, before=edition.id, limit=settings.hold_history, slot=slot
    )
    if counts:
        usual = statistics.median(counts)
        if usual and len(carried) > settings.hold_growth * usual:
            reasons.append(
                f"{len(carried)} articles: more than {settings.hold_growth:g}x the usual "
                f"{usual:g} of the last {len(counts)} {edition.kind.value} editions"
            )
    repeated = _repeat_share(store, edition, variants)
    if repeated > settings.hold_repeat_share:
        reasons.append(
            f"{repeated:.0%} of readers would get the same articles as in their previous "
            "digest (by link or title): has a source changed its ids?"
        )
    return reasons


def _repeat_share(
    store: Store, edition: Edition, variants: dict[int, tuple[str, list[str]]]
) -> float:
    """The share of the edition's readers whose every article (by link or title) was in
    their digest of the previous edition of this kind."""
    assert edition.id is not None
    previous = store.editions.previous(edition, slot_of(edition.key))
    if previous is None or previous.id is None:
        return 0.0
    pairs = store.editions.variant_pairs(edition.id, previous.id)
    earlier = store.editions.variants(previous.id)
    ids = {i for _, found in (*variants.values(), *earlier.values()) for i in found}
    articles = {key: found[0] for key, found in store.articles.by_ids(ids).items()}
    readers = sum(pairs.values())
    repeats = 0
    for (now_id, before_id), count in pairs.items():
        if before_id is None or before_id not in earlier:
            continue
        fresh = [articles[i] for i in variants[now_id][1] if i in articles]
        seen = _marks(articles[i] for i in earlier[before_id][1] if i in articles)
        if fresh and all(_marks([article]) & seen for article in fresh):
            repeats += count
    return repeats / readers if readers else 0.0


def slot_of(key: str) -> str:
    """The local-morning part of a slot's key (`T07:00+05:30` of
    `daily:2026-12-02T07:00+05:30`): editions are compared with the same slot's earlier ones,
    whose readers are the same; "" for any other edition."""
    head, _, rest = key.partition(":")
    return rest[10:] if head == "daily" and rest[10:11] == "T" else ""


def _marks(articles: Iterable[Article | None]) -> set[str]:
    """What makes two articles the same story to a reader: the link (else the title)."""
    return {
        (article.url or article.title).strip().lower()
        for article in articles
        if article is not None
    }
