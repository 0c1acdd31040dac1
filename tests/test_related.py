"""Related articles: exclusions, copies, drafts, ties, tiny archives, other scripts, persistence."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.related.engine import RelatedEngine
from publisher.related.index import RelatedIndex, build_index, refresh_index
from publisher.settings import RelatedSettings
from publisher.store import Store
from tests.conftest import run_cli
from tests.helpers import STORY_DAY, article, put_articles, story

DAY = STORY_DAY

DAM_1 = """Farmers on the Qasrayni plains say the Tahl Gorge dam upstream is holding back the
Sahrun river while its reservoir fills. Irrigation districts near Harrat have started rationing
water by the hour and wheat growers fear a lost season."""
DAM_2 = """Negotiators from Daryan and Qasrayn met in Bayt Nur to discuss the filling schedule of
the Tahl Gorge reservoir. Officials said a joint gauging station on the Sahrun would publish flow
data every week, but no agreement was reached on dry-year releases."""
DAM_3 = """Hundreds of farmers marched through Harrat demanding that the Tahl Gorge dam release
more of the Sahrun river's flow. Protest leaders said rationing had already cost orchards and
that the government in Bayt Nur must press Daryan harder."""
STRIKE_1 = """Dockworkers at the port of Halvard walked out on Monday over plans to bring in
automated cranes. The union says hundreds of jobs are at risk; container ships are already
queueing outside the harbour."""
STRIKE_2 = """Talks between the Halvard dockworkers' union and the port operator Northmere resumed,
as the strike over automated cranes entered its second week and shipping lines diverted cargo to
other harbours."""
FESTIVAL_1 = """The Lanterne film festival opened in Port Anselm with a gala premiere and a jury
chaired by the director Ines Marlow. Forty films from twenty countries compete this year."""
FESTIVAL_2 = """A debut feature about a fishing village won the jury prize at the Lanterne film
festival in Port Anselm, where audiences queued along the quay for late screenings."""


@pytest.fixture
def archive(store: Store) -> Store:
    put_articles(
        store,
        [
            story(1, "Sahrun farmers ration water as dam fills", DAM_1, tags=("water",)),
            story(
                2, "Talks on Tahl Gorge filling schedule end without deal", DAM_2, tags=("water",)
            ),
            story(3, "Harrat farmers march against Tahl Gorge dam", DAM_3),
            story(4, "Halvard dockworkers strike over cranes", STRIKE_1, section="business"),
            story(5, "Halvard strike talks resume", STRIKE_2, section="business"),
            story(6, "Lanterne festival opens in Port Anselm", FESTIVAL_1, section="culture"),
            story(7, "Debut wins Lanterne jury prize", FESTIVAL_2),
        ],
    )
    return store


def engine(store: Store, tmp_path: Path, **settings) -> RelatedEngine:
    index = refresh_index(store.articles, tmp_path / "related")
    return RelatedEngine(index, RelatedSettings(**settings))


def ids(found) -> list[str]:
    return [item.id for item in found]


def test_related_share_the_story_never_self(archive, tmp_path):
    answers = engine(archive, tmp_path).related(["world/story-1", "business/story-4"], limit=2)
    assert set(ids(answers["world/story-1"])) == {"world/story-2", "world/story-3"}
    assert ids(answers["business/story-4"])[0] == "business/story-5"
    for article_id, found in answers.items():
        assert article_id not in ids(found)
        assert all(item.score > 0 for item in found)


def test_exclusion_set_is_honoured(archive, tmp_path):
    answers = engine(archive, tmp_path).related(["world/story-1"], exclude={"world/story-2"})
    assert ids(answers["world/story-1"]) == ["world/story-3"]


def test_near_duplicates_are_never_returned(archive, tmp_path):
    original = story(1, "Sahrun farmers ration water as dam fills", DAM_1, tags=("water",))
    refiled = article(
        30,
        title=original.title.upper() + "!",  # the same title, shouted
        summary=original.summary,
        content=original.content,
        published=original.published + timedelta(minutes=5),
        updated=original.updated,
    )
    reworded = article(
        31,
        title="Wire: dam leaves farmers short",
        summary=original.summary,
        content=original.content.replace("wheat growers", "growers"),
    )
    put_articles(archive, [refiled, reworded])
    answers = engine(archive, tmp_path, limit=5).related(["world/story-1", "world/story-2"])
    assert not {"world/story-30", "world/story-31"} & set(ids(answers["world/story-1"]))
    # and two copies of one story are never both listed for another article
    assert (
        len(
            {"world/story-30", "world/story-31", "world/story-1"}
            & set(ids(answers["world/story-2"]))
        )
        == 1
    )


def test_drafts_are_never_returned_and_withdrawn_articles_leave(archive, tmp_path):
    put_articles(archive, [story(8, "Analysis: the dam", DAM_3 + " An analysis.", draft=True)])
    related = engine(archive, tmp_path, limit=5)
    assert "world/story-8" not in ids(related.related(["world/story-1"])["world/story-1"])
    assert related.related(["world/story-8"]) == {}
    put_articles(
        archive,
        [story(3, "Harrat farmers march against Tahl Gorge dam", DAM_3, draft=True)],
        changed=True,
    )
    answers = engine(archive, tmp_path, limit=5).related(["world/story-1"])
    assert "world/story-3" not in ids(answers["world/story-1"])


def test_scheduled_articles_are_not_returned_before_their_time(archive, tmp_path):
    later = DAY + timedelta(days=30)
    analysis = (
        "Why the Tahl Gorge dam filling schedule leaves Sahrun river farmers in Harrat short."
    )
    put_articles(archive, [story(8, "Analysis: the dam", analysis, published=later, updated=later)])
    index = refresh_index(archive.articles, tmp_path / "related")
    settings = RelatedSettings(limit=5)
    now = RelatedEngine(index, settings, now=DAY + timedelta(days=1)).related(["world/story-1"])
    assert "world/story-8" not in ids(now["world/story-1"])
    then = RelatedEngine(index, settings, now=later).related(["world/story-1"])
    assert "world/story-8" in ids(then["world/story-1"])


def test_ties_are_broken_by_id_and_answers_repeat(store, tmp_path):
    same = "Identical twin reports about the Corran book prize shortlist announcement."
    put_articles(
        store,
        [
            article(1, title="Prize shortlist", summary=same, content=f"<p>{same}</p>"),
            article(2, title="Shortlist bravo", summary=same + " Bravo.", content=f"<p>{same}</p>"),
            article(3, title="Shortlist alpha", summary=same + " Alpha.", content=f"<p>{same}</p>"),
        ],
    )
    related = engine(store, tmp_path, duplicate_similarity=1.0, recency_weight=0)
    first = related.related(["world/story-1"], limit=2)["world/story-1"]
    assert first[0].score == first[1].score
    assert ids(first) == ["world/story-2", "world/story-3"]
    assert related.related(["world/story-1"], limit=2)["world/story-1"] == first


def test_archives_of_zero_and_one_article(store, tmp_path):
    related = engine(store, tmp_path)
    assert related.related(["anything"]) == {}
    put_articles(store, [article(1)])
    assert engine(store, tmp_path).related(["world/story-1"]) == {"world/story-1": []}


def test_non_english_text(store, tmp_path):
    put_articles(
        store,
        [
            article(
                1,
                title="Sequía en el río Sahrun",
                summary="Los embalses del Sahrun están al mínimo.",
                content="<p>La sequía castiga a los agricultores de Harrat.</p>",
            ),
            article(
                2,
                title="El tratado del Sahrun y la sequía",
                summary="Negociación sobre los embalses del Sahrun.",
                content="<p>Los agricultores piden agua.</p>",
            ),
            article(
                3,
                title="東京で大きな地震が発生",
                summary="東京の地震で電車が止まった。",
                content="<p>地震の被害を調べている。</p>",
            ),
            article(
                4,
                title="地震のあと東京の電車が再開",
                summary="東京の電車は地震のあと動き始めた。",
                content="<p>地震の影響。</p>",
            ),
            article(
                5,
                title="Выборы в Марроке",
                summary="Пересчёт голосов на выборах.",
                content="<p>Выборы и пересчёт.</p>",
            ),
            article(
                6,
                title="Пересчёт голосов завершён",
                summary="Итоги выборов после пересчёта.",
                content="<p>Выборы окончены.</p>",
            ),
        ],
    )
    answers = engine(store, tmp_path, limit=1).related([f"world/story-{n}" for n in (1, 3, 5)])
    assert ids(answers["world/story-1"]) == ["world/story-2"]
    assert ids(answers["world/story-3"]) == ["world/story-4"]
    assert ids(answers["world/story-5"]) == ["world/story-6"]


def test_index_is_updated_incrementally_and_persisted(archive, tmp_path):
    path = tmp_path / "related"
    refresh_index(archive.articles, path)
    saved = {p.name: p.stat().st_mtime_ns for p in path.iterdir()}
    time.sleep(0.01)
    assert refresh_index(archive.articles, path).size == 7
    assert {p.name: p.stat().st_mtime_ns for p in path.iterdir()} == saved  # not rewritten
    ended = """The Halvard strike ended after Northmere agreed to retrain dockworkers for the
    automated cranes and to guarantee pay for three years; ships began unloading at dawn."""
    put_articles(archive, [story(9, "Halvard strike ends with deal", ended, section="business")])
    assert refresh_index(archive.articles, path).size == 8
    assert (path / "base.npz").stat().st_mtime_ns == saved["base.npz"]  # only the delta is written
    assert (path / "delta.npz").stat().st_mtime_ns != saved["delta.npz"]
    loaded = RelatedIndex.load(path)
    assert loaded is not None and loaded.size == 8 and loaded.base_rows == 7
    settings = RelatedSettings()
    incremental = RelatedEngine(loaded, settings).related(["business/story-4"])
    rebuilt = RelatedEngine(build_index(archive.articles), settings).related(["business/story-4"])
    assert set(ids(incremental["business/story-4"])) == set(ids(rebuilt["business/story-4"]))
    assert "business/story-9" in ids(incremental["business/story-4"])


def test_a_delta_from_another_base_is_ignored(archive, tmp_path):
    path = tmp_path / "related"
    refresh_index(archive.articles, path)
    put_articles(archive, [story(9, "Halvard strike ends with deal", STRIKE_1)])
    refresh_index(archive.articles, path)
    delta = (path / "delta.npz").read_bytes()
    refresh_index(
        archive.articles, path, rebuild=True
    )  # a new base, as if the delta write was lost
    (path / "delta.npz").write_bytes(delta)
    loaded = RelatedIndex.load(path)
    assert loaded is not None and loaded.size == 8 and len(loaded.ids) == 8


def test_a_corrupt_index_file_is_rebuilt(archive, tmp_path):
    path = tmp_path / "related"
    path.mkdir()
    (path / "base.npz").write_bytes(b"not an index")
    assert refresh_index(archive.articles, path).size == 7
    assert RelatedIndex.load(path) is not None


def test_cli_answers_many_ids_in_one_call(project):
    run_cli("gather", "--no-feeds", cwd=project)
    listed = json.loads(run_cli("articles", "list", "--json", cwd=project).stdout)["articles"]
    every = [a["id"] for a in listed]
    out = run_cli("related", *every, "--limit", "2", "--json", cwd=project)
    assert out.returncode == 0, out.stderr
    answers = json.loads(out.stdout)
    assert set(answers) == set(every)
    first = answers["business/halvard-dockworkers-walk-out"]
    assert len(first) == 2 and set(first[0]) == {"id", "title", "score"}
    assert all(
        r["id"].startswith(("business/halvard", "world/halvard", "opinion/dock", "business/port"))
        for r in first
    )
    missing = run_cli("related", every[0], "no-such-id", "--json", cwd=project)
    assert missing.returncode == 2 and "no-such-id" in missing.stderr
    assert list(json.loads(missing.stdout)) == [every[0]]
