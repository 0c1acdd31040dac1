"""Evaluation: related-article quality on a labelled set of stories and topics.

Each article of bench/data/related_labelled.jsonl has a story (a specific event, or null), a
topic (broader) and possibly `duplicate_of` (the same story filed twice). For every article
with a topic other than "misc", the engine's top 3 related links are judged:

- precision@3: a link shares the story or the topic (and is not a copy of the article);
- story precision@3: a link shares the story (the stricter, more useful kind);
- duplicate rate: a link is a copy of the article (or of the same original): a wasted link.

A missing link (fewer than 3 found) counts as a wrong one.

The same is measured for plain TF-IDF cosine (scikit-learn's TfidfVectorizer, English stop
words, sublinear tf, top 3 by cosine, never the article itself).

    .venv/bin/python bench/related_quality.py [--data FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from publisher.gather import content_hash
from publisher.models import Article
from publisher.related import RelatedEngine
from publisher.related_index import build_index
from publisher.settings import RelatedSettings
from publisher.store import Store, StoredArticle

DATA = Path(__file__).parent / "data" / "related_labelled.jsonl"


@dataclass(frozen=True)
class Labelled:
    article: Article
    story: str | None
    topic: str
    duplicate_of: str | None


def load(path: Path) -> list[Labelled]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        published = datetime.fromisoformat(raw["published"].replace("Z", "+00:00"))
        body = "".join(f"<p>{p}</p>" for p in raw["body"].split("\n\n"))
        article = Article(
            id=raw["id"],
            url=f"https://eval.example/{raw['id']}/",
            title=raw["title"],
            summary=raw["summary"],
            content=body,
            section=raw["section"],
            tags=tuple(raw["tags"]),
            published=published,
            updated=published,
        )
        items.append(Labelled(article, raw["story"], raw["topic"], raw.get("duplicate_of")))
    return items


def original(item: Labelled) -> str:
    return item.duplicate_of or item.article.id


def judge(items: list[Labelled], answers: dict[str, list[str]]) -> dict[str, float]:
    by_id = {i.article.id: i for i in items}
    links = relevant = same_story = duplicates = 0
    for item in items:
        if item.topic == "misc":
            continue
        for other_id in answers.get(item.article.id, [])[:3]:
            other = by_id[other_id]
            links += 1
            duplicate = original(other) == original(item)
            shares_story = item.story is not None and other.story == item.story and not duplicate
            same_story += shares_story
            relevant += shares_story or (other.topic == item.topic and not duplicate)
            duplicates += duplicate
    queries = sum(1 for i in items if i.topic != "misc")
    return {
        "precision@3": relevant / (3 * queries),
        "story_precision@3": same_story / (3 * queries),
        "duplicate_rate": duplicates / max(links, 1),
        "links": links,
    }


def engine_answers(items: list[Labelled], settings: RelatedSettings) -> dict[str, list[str]]:
    with tempfile.TemporaryDirectory() as work:
        store = Store.open(f"sqlite:///{work}/eval.db")
        stored = [
            StoredArticle(
                article=i.article,
                source="eval",
                origin=i.article.id,
                fingerprint="",
                content_hash=content_hash(i.article),
            )
            for i in items
        ]
        store.save_gathered(
            new=stored, changed=[], touched=[], state=None, now=datetime.now().astimezone()
        )
        engine = RelatedEngine(build_index(store), settings)
        store.close()
    ids = [i.article.id for i in items]
    return {k: [r.id for r in v] for k, v in engine.related(ids, limit=3).items()}


def plain_tfidf_answers(items: list[Labelled]) -> dict[str, list[str]]:
    texts = [f"{i.article.title} {i.article.summary} {i.article.content}" for i in items]
    matrix = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
    similarity = (matrix @ matrix.T).toarray()
    np.fill_diagonal(similarity, -1)
    ids = [i.article.id for i in items]
    return {
        ids[row]: [ids[c] for c in np.argsort(-similarity[row], kind="stable")[:3]]
        for row in range(len(ids))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    items = load(args.data)
    stories = {i.story for i in items if i.story}
    print(
        f"{len(items)} articles, {len(stories)} stories, {len({i.topic for i in items})} topics, "
        f"{sum(1 for i in items if i.duplicate_of)} duplicates"
    )
    results = {
        "plain TF-IDF cosine": judge(items, plain_tfidf_answers(items)),
        "publisher engine": judge(items, engine_answers(items, RelatedSettings())),
    }
    print(f"{'':<22} {'precision@3':>12} {'story P@3':>10} {'duplicates':>11} {'links':>6}")
    for name, r in results.items():
        print(
            f"{name:<22} {r['precision@3']:>12.3f} {r['story_precision@3']:>10.3f} "
            f"{r['duplicate_rate']:>11.3f} {r['links']:>6}"
        )


if __name__ == "__main__":
    main()
