"""Evaluation: related-article quality on a labelled set of stories and topics.

Each article of bench/data/related_labelled.jsonl has a story (a specific event, or null), a
topic (broader, "misc" for a piece with no true neighbour) and possibly `duplicate_of` (the
same story filed twice). First, on the whole set, every article with a topic other than
"misc" has its top 3 related links judged, by the engine and by plain TF-IDF cosine
(scikit-learn's TfidfVectorizer, English stop words, sublinear tf, top 3 by cosine):

- precision@3: a link shares the story or the topic (and is not a copy of the article);
  a missing link (fewer than 3 found) counts as a wrong one;
- story precision@3: a link shares the story (the stricter, more useful kind);
- duplicate rate: a link is a copy of the article (or of the same original): a wasted link.

Then the engine in the cases of related_cases.py (dense, and thin: digests that hold an
article's closest neighbours, small archives), with the default settings:

- P@3: as precision@3 above (articles with no true neighbour left out, missing links wrong);
- shown P: the share of the links shown that are right (every article counted);
- recall: right links shown / right links there was room for (min(3, true neighbours left));
- no links: the share of articles shown no link; none|nbr among those that had a true
  neighbour left, none|lone among those that had none (there, no links is the right answer).

`--sweep` measures the same against `min_similarity` and `fill_similarity` and names the pair
it would choose: the highest sum of dense precision@3 and thin shown precision among the pairs
that meet the targets (dense precision@3 at least 0.966, as before the floors; thin shown
precision at least 0.9) and leave at least 95 % of the articles with no true neighbour, dense
or thin, without a link.

    .venv/bin/python bench/related_quality.py [--data FILE] [--sweep]
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

import numpy as np
from related_cases import (
    Case,
    Labelled,
    answers,
    dense,
    original,
    story_digests,
    tally,
    thin_archives,
    weekly_digests,
)
from sklearn.feature_extraction.text import TfidfVectorizer

from publisher.models import Article
from publisher.settings import RelatedSettings

DATA = Path(__file__).parent / "data" / "related_labelled.jsonl"
FLOORS = [round(0.02 + 0.01 * step, 2) for step in range(15)]  # min_similarity, 0.02 to 0.16
FILLS = [0.03, 0.04, 0.045, 0.05, 0.055, 0.06, 0.07, 0.08]  # fill_similarity below the floor
THIN_PRECISION = 0.9  # the target for the links shown in thin archives
DENSE_P3 = 0.966  # the target in the dense archive: precision@3 before the floors
LONE_EMPTY = 0.95  # share of the articles with no true neighbour that must get no link


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


def compare(items: list[Labelled], whole: Case) -> None:
    """Precision@3 of the engine and of plain TF-IDF on the whole set."""
    engine = {}
    for _, found in answers(whole, RelatedSettings()):
        engine.update(found)
    results = {
        "plain TF-IDF cosine": judge(items, plain_tfidf_answers(items)),
        "publisher engine": judge(items, engine),
    }
    print(f"{'':<22} {'precision@3':>12} {'story P@3':>10} {'duplicates':>11} {'links':>6}")
    for name, r in results.items():
        print(
            f"{name:<22} {r['precision@3']:>12.3f} {r['story_precision@3']:>10.3f} "
            f"{r['duplicate_rate']:>11.3f} {r['links']:>6}"
        )


def report(cases: dict[str, list[Case]]) -> None:
    """The engine's links, with the default settings, in every kind of case."""
    settings = RelatedSettings()
    thin = [c for name, group in cases.items() if name != "dense" for c in group]
    rows = {name: tally(group, settings).row() for name, group in cases.items()}
    rows["thin, all four"] = tally(thin, settings).row()
    print(f"\nmin_similarity={settings.min_similarity}")
    columns = list(next(iter(rows.values())))
    print(f"{'':<22}" + "".join(f"{c:>10}" for c in columns))
    for name, row in rows.items():
        cells = "".join(
            f"{value:>10}" if isinstance(value, int) else f"{value:>10.3f}"
            for value in row.values()
        )
        print(f"{name:<22}{cells}")


def sweep(cases: dict[str, list[Case]]) -> None:
    """Dense and thin precision, recall and empty shares against the two floors."""
    thin = [c for name, group in cases.items() if name != "dense" for c in group]
    print(
        f"\n{'floor':>5} {'fill':>5} | {'dense P@3':>9} {'shown P':>8} {'recall':>7} "
        f"{'no links':>8} | {'thin shown P':>12} {'recall':>7} {'none|nbr':>8} | {'none|lone':>9}"
    )
    best: tuple[float, float, float] | None = None
    for floor in FLOORS:
        for fill in [f for f in FILLS if f < floor] + [floor]:
            settings = RelatedSettings(min_similarity=floor, fill_similarity=fill)
            dense_tally, thin_tally = tally(cases["dense"], settings), tally(thin, settings)
            d, t = dense_tally.row(), thin_tally.row()
            lone = dense_tally.lonely + thin_tally.lonely
            lone_empty = (dense_tally.lonely_empty + thin_tally.lonely_empty) / max(lone, 1)
            print(
                f"{floor:>5.2f} {fill:>5.3f} | {d['P@3']:>9.3f} {d['shown P']:>8.3f} "
                f"{d['recall']:>7.3f} {d['no links']:>8.3f} | {t['shown P']:>12.3f} "
                f"{t['recall']:>7.3f} {t['none|nbr']:>8.3f} | {lone_empty:>9.3f}"
            )
            meets = d["P@3"] >= DENSE_P3 and t["shown P"] >= THIN_PRECISION
            if meets and lone_empty >= LONE_EMPTY:
                candidate = (round(d["P@3"] + t["shown P"], 3), floor, fill)
                best = max(best or candidate, candidate)
    assert best is not None, "no floors meet the targets"
    print(
        f"chosen: min_similarity = {best[1]}, fill_similarity = {best[2]} (the highest dense "
        f"P@3 + thin shown P among the floors with dense P@3 >= {DENSE_P3}, thin shown P >= "
        f"{THIN_PRECISION} and none|lone >= {LONE_EMPTY})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sweep", action="store_true", help="the same by min_similarity")
    args = parser.parse_args()
    items = load(args.data)
    stories = {i.story for i in items if i.story}
    print(
        f"{len(items)} articles, {len(stories)} stories, {len({i.topic for i in items})} topics, "
        f"{sum(1 for i in items if i.duplicate_of)} duplicates, "
        f"{sum(1 for i in items if i.topic == 'misc')} with no true neighbour"
    )
    whole = dense(items)
    compare(items, whole)
    cases = {
        "dense": [whole],
        "weekly digests": [weekly_digests(items)],
        "story digests": [story_digests(items)],
        "thin archives": list(thin_archives(items, digest=False)),
        "thin archives, digest": list(thin_archives(items, digest=True)),
    }
    report(cases)
    if args.sweep:
        sweep(cases)


if __name__ == "__main__":
    main()
