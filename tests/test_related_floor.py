"""The related-links floor: unrelated articles stay out, in small archives and in digests."""

from __future__ import annotations

import email
import itertools
import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest

from publisher.app import open_app
from publisher.digest.editions import new_edition
from publisher.gather import gather
from publisher.models import EditionKind, Frequency, Subscriber, SubscriberStatus
from publisher.pipeline import mailer as build_mailer
from publisher.related.engine import RelatedEngine
from publisher.related.index import refresh_index
from publisher.settings import RelatedSettings, load_settings
from publisher.store import Store
from tests.conftest import ROOT, base_settings
from tests.helpers import STORY_DAY, put_articles, story

CUTOFF = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
ISLANDS = ("islands",)

VOLCANO = """Volcanologists on Isla Menor raised the alert level for Monte Caldero from yellow to
orange after recording more than nine hundred small earthquakes beneath the mountain in two
days. About two thousand residents of the eastern slopes were told to pack essential
belongings and be ready to leave; schools closed and a shelter opened in Puerto Llano."""
VOLCANO_LATER = """Monte Caldero erupted on Isla Menor overnight, sending ash over the eastern
slopes a week after volcanologists raised the alert. The villages had already been emptied and
the residents who left were sleeping in the Puerto Llano shelter as the earthquakes continued
beneath the mountain."""
FERRY = """The island ferry company will cut its winter timetable to two sailings a day from
December, saying that the number of passengers falls by half once the tourist season ends.
Hauliers warned that fresh produce would reach the shops a day later, and residents of the
eastern slopes asked for an extra Friday crossing before the holidays."""
MUSEUM = """A small museum of fishing boats opened in a restored net loft by the harbour, with
eleven wooden boats, a collection of hand-made nets and recordings of retired skippers telling
stories of storms and record catches. Entry is free for children, and volunteers hope to
restore a twelfth boat by the summer."""
DAM = """Farmers on the Qasrayni plains say the Tahl Gorge dam upstream is holding back the
Sahrun river while its reservoir fills. Irrigation districts near Harrat have started rationing
water by the hour and wheat growers fear a lost season as the canals run low."""
DAM_TALKS = """Negotiators from Daryan and Qasrayn met in Bayt Nur to discuss the filling schedule
of the Tahl Gorge reservoir. Officials said a joint gauging station on the Sahrun river would
publish flow data every week, but no agreement was reached on releases for the farmers of
Harrat in dry years."""


@pytest.fixture
def islands(store: Store) -> Store:
    """A volcano report and, in its section, an hour apart and sharing its tag, unrelated news."""
    put_articles(
        store,
        [
            story(1, "Alert raised on Isla Menor as Monte Caldero swarms", VOLCANO, tags=ISLANDS),
            story(2, "Island ferry cuts its winter timetable", FERRY, tags=ISLANDS),
            story(3, "Harbour net loft becomes a museum of fishing boats", MUSEUM, tags=ISLANDS),
        ],
    )
    return store


def links(store: Store, tmp_path: Path, article_id: str, **settings: object) -> list[str]:
    index = refresh_index(store.articles, tmp_path / "related")
    engine = RelatedEngine(index, RelatedSettings(**settings), now=STORY_DAY + timedelta(days=30))
    return [item.id for item in engine.related([article_id])[article_id]]


def test_unrelated_articles_are_not_lifted_over_the_floor(islands, tmp_path):
    # Same section, a shared tag and an hour apart: the old floor (0.02) let them through.
    lifted = links(islands, tmp_path, "world/story-1", min_similarity=0.02)
    assert sorted(lifted) == ["world/story-2", "world/story-3"]
    assert links(islands, tmp_path, "world/story-1") == []


def test_a_true_neighbour_still_passes(islands, tmp_path):
    later = story(4, "Monte Caldero erupts after villages are emptied", VOLCANO_LATER)
    put_articles(islands, [later])
    assert links(islands, tmp_path, "world/story-1") == ["world/story-4"]
    assert links(islands, tmp_path, "world/story-4") == ["world/story-1"]


# -- the embedded default's sample content ---------------------------------------------

# Which articles of content/ may link to each other: its stories, two pairs of different
# stories on one subject, and two topics (a shared topic, which bench/related_quality.py also
# counts as right).
# An article may link only to one that shares a group with it.
GROUPS: dict[str, tuple[str, ...]] = {
    "halvard port strike": (
        "business/halvard-dockworkers-walk-out",
        "business/halvard-strike-ends-with-three-year-deal",
        "business/port-strike-pushes-up-grocery-prices",
        "world/halvard-strike-ripples-across-shipping-lanes",
        "opinion/dockworkers-deserve-a-seat-at-the-automation-table",
        # the rate decision is about the strike's food prices
        "business/central-bank-holds-rates-as-prices-rise",
    ),
    "lanterne film festival": (
        "culture/lanterne-film-festival-opens-in-port-anselm",
        "culture/lanterne-jury-prize-goes-to-debut-feature",
        "culture/lanterne-late-night-music-stage-lineup",
        "opinion/festivals-should-pay-the-crews-who-build-them",
    ),
    # A topic: the editors tagged these "labour" (a strike over pay, and an op-ed asking a
    # festival to pay its crews); bench/related_quality.py counts a shared topic as right.
    "labour": (
        "business/halvard-dockworkers-walk-out",
        "business/halvard-strike-ends-with-three-year-deal",
        "business/port-strike-pushes-up-grocery-prices",
        "opinion/dockworkers-deserve-a-seat-at-the-automation-table",
        "opinion/festivals-should-pay-the-crews-who-build-them",
    ),
    # A topic: states negotiating how to share a natural resource (a river's water, a fish
    # stock); both are talks between states over a shared resource, in the same section.
    "sharing a resource between states": (
        "world/sahrun-basin-talks-open-in-bayt-nur",
        "world/drought-shrinks-sahrun-reservoirs",
        "international-relations/sahrun-accord-draft-allocation-formula",
        "international-relations/upstream-dam-filling-schedule-dispute",
        "opinion/sahrun-treaty-needs-a-drought-clause",
        "international-relations/northern-mackerel-quota-talks-stall",
    ),
    "kaiwera land claim": (
        "indigenous-affairs/kaiwera-land-claim-hearing-begins",
        "indigenous-affairs/kaiwera-elders-give-evidence-on-country",
        "world/kaiwera-ruling-halts-ulunbar-mining-leases",
        "opinion/kaiwera-ruling-tests-how-courts-weigh-oral-evidence",
    ),
    "sahrun basin water talks": (
        "world/sahrun-basin-talks-open-in-bayt-nur",
        "world/drought-shrinks-sahrun-reservoirs",
        "international-relations/sahrun-accord-draft-allocation-formula",
        "international-relations/upstream-dam-filling-schedule-dispute",
        "opinion/sahrun-treaty-needs-a-drought-clause",
    ),
    # the language nest's songs belong with the returned objects (it links to that article)
    "tarrow valley heritage": (
        "indigenous-affairs/language-nest-opens-in-tarrow-valley",
        "indigenous-affairs/museum-agrees-to-return-ceremonial-objects",
    ),
    "prizes for a first book or film": (
        "culture/novelist-wins-regional-book-award",
        "culture/lanterne-jury-prize-goes-to-debut-feature",
    ),
    "songs unsung for generations, revived": (
        "culture/choir-revives-lost-harbour-songs",
        "indigenous-affairs/language-nest-opens-in-tarrow-valley",
    ),
}
ALONE = (  # no other sample article is about the same thing
    "business/solar-cooperative-plans-share-offer",
    "culture/city-archive-digitises-century-of-photographs",
    "indigenous-affairs/ranger-program-expands-to-wetlands",
    "international-relations/student-visa-pact-signed",
    "international-relations/talvoria-and-mereth-reopen-embassies",
    "opinion/keep-rural-libraries-open-in-the-evenings",
    "world/coastal-province-orders-election-recount",
    "world/volcano-alert-raised-on-isla-menor",
)
ARTICLES = sorted({*ALONE, *itertools.chain.from_iterable(GROUPS.values())})
KAIWERA_OPINION = "opinion/kaiwera-ruling-tests-how-courts-weigh-oral-evidence"


def groups_of(article_id: str) -> set[str]:
    return {name for name, members in GROUPS.items() if article_id in members}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelatedEngine]:
    """The engine on the sample content, gathered from a copy of the embedded default."""
    folder = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "settings.toml", folder / "settings.toml")
    shutil.copytree(ROOT / "content", folder / "content")
    app = open_app(load_settings(folder / "settings.toml"))
    try:
        gather(app.store.articles, app.section_sources())
        index = refresh_index(
            app.store.articles, app.settings.resolve(app.settings.related.index_path)
        )
        yield RelatedEngine(index, app.settings.related, now=CUTOFF)
    finally:
        app.close()


def digests(engine: RelatedEngine) -> dict[str, list[str]]:
    """Every article asked alone, and a digest of every combination of sections."""
    ids = list(engine.index.ids)
    sections = sorted({article_id.split("/")[0] for article_id in ids})
    held = {"none": []}
    for size in range(1, len(sections) + 1):
        for chosen in itertools.combinations(sections, size):
            held["+".join(chosen)] = [i for i in ids if i.split("/")[0] in chosen]
    return held


@pytest.fixture(scope="module")
def shown(sample: RelatedEngine) -> dict[str, set[tuple[str, str]]]:
    """(link, digest) for each sample article, over every digest."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for name, held in digests(sample).items():
        asked = held or list(sample.index.ids)
        for article_id, related in sample.related(asked, exclude=held).items():
            found[article_id] |= {(item.id, name) for item in related}
    return found


def test_the_labels_cover_the_sample(sample):
    assert sorted(sample.index.ids) == ARTICLES


@pytest.mark.parametrize("article_id", ARTICLES)
def test_sample_digests_never_link_an_unrelated_story(shown, article_id):
    wrong: dict[str, list[str]] = defaultdict(list)
    for link, digest in shown[article_id]:
        if not groups_of(article_id) & groups_of(link):
            wrong[link].append(digest)
    report = [
        f"{article_id} -> {link}  (in {len(held)} digests, e.g. {min(held, key=len)})"
        for link, held in sorted(wrong.items())
    ]
    assert not report, "links to an unrelated story:\n" + "\n".join(report)


@pytest.mark.parametrize("story", ["halvard port strike", "kaiwera land claim"])
def test_sample_stories_still_link_to_each_other(sample, story):
    members = [i for i in GROUPS[story] if i != "business/central-bank-holds-rates-as-prices-rise"]
    answers = sample.related(members)
    for article_id in members:
        assert {item.id for item in answers[article_id]} <= set(GROUPS[story]), article_id
        assert len(answers[article_id]) == 3, article_id


def test_the_kaiwera_opinion_gets_no_links_when_its_story_is_in_the_digest(sample):
    # The example: with the other Kaiwera articles in the same digest, the old floor
    # linked the port strike deal (0.134) and a book prize (0.123).
    held = [
        i for i in sample.index.ids if i.split("/")[0] in {"world", "opinion", "indigenous-affairs"}
    ]
    assert sample.related([KAIWERA_OPINION], exclude=held)[KAIWERA_OPINION] == []
    alone = sample.related([KAIWERA_OPINION])[KAIWERA_OPINION]
    assert {item.id for item in alone} == set(GROUPS["kaiwera land claim"]) - {KAIWERA_OPINION}


# -- the digest leaves out the block of an article with no links ----------------------------


def reader(n: int, section: str) -> Subscriber:
    return Subscriber(
        id=n,
        email=f"reader{n}@example.com",
        name=f"Reader {n}",
        status=SubscriberStatus.CONFIRMED,
        sections=(section,),
        frequency=Frequency.DAILY,
        secret=f"secret-{n}",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def bodies(data: bytes) -> tuple[str, str]:
    message = email.message_from_bytes(data, policy=policy.default)
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def test_an_article_with_no_links_has_no_related_block(make_app, monkeypatch):
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", "test-secret-key-0123456789")
    sections = [{"slug": s, "title": s.title()} for s in ("world", "opinion")]
    app = make_app(base_settings(sections=sections))
    earlier = CUTOFF - timedelta(days=10)  # in the archive, not in this edition
    dam = story(1, "Sahrun farmers ration water", DAM, tags=("water",))
    put_articles(app.store, [dam], now=earlier)
    put_articles(
        app.store,
        [
            story(2, "Alert raised on Isla Menor", VOLCANO, tags=ISLANDS),
            story(3, "Tahl Gorge talks end", DAM_TALKS, section="opinion", tags=("water",)),
        ],
        now=CUTOFF - timedelta(hours=2),
    )
    mailer = build_mailer(app)
    edition = new_edition(EditionKind.DAILY, CUTOFF, app.settings.site.zone)
    plan = mailer.plan(edition, [reader(1, "world"), reader(2, "opinion")])
    built = {m.subscriber.id: bodies(m.data) for m in mailer.messages(plan)}
    volcano_text, volcano_html = built[1]
    assert "Alert raised on Isla Menor" in volcano_text
    assert "Related" not in volcano_text and "Related" not in volcano_html
    assert 'class="related' not in volcano_html
    talks_text, talks_html = built[2]  # the control: a neighbour in the archive is linked
    assert "Related:" in talks_text and "  - Sahrun farmers ration water" in talks_text
    assert "Related" in talks_html and "Sahrun farmers ration water" in talks_html
