"""The store on SQLite and PostgreSQL: migrations, round trips, atomic gathering writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from publisher.models import Article, SourceState
from publisher.store import Store
from publisher.store.articles import StoredArticle, _row
from publisher.store.db import MIGRATIONS, create_store_engine
from publisher.store.schema import articles

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def stored(n: int, **changes) -> StoredArticle:
    article = Article(
        id=f"a{n}",
        url=f"https://todaypress.example/world/a{n}/",
        title=f"Title {n} — ünïcödé 漢字 مرحبا",
        summary="Summary",
        content="<p>Body</p>",
        section="world",
        authors=("Ana",),
        tags=("t1", "t2"),
        published=datetime(2026, 11, 20, 8, 0, tzinfo=timezone(timedelta(hours=5)))
        + timedelta(hours=n),
        updated=datetime(2026, 11, 21, 8, 0, tzinfo=UTC),
        image="https://todaypress.example/i.jpg",
        image_alt="alt",
    )
    return StoredArticle(
        article=article.__class__(**{**article.__dict__, **changes}),
        source="world:markdown:content/world",
        origin=f"content/world/a{n}.md",
        fingerprint="1:2",
        content_hash=f"hash{n}",
    )


def test_round_trip_keeps_every_field_and_the_instant(store: Store):
    items = [stored(n) for n in range(3)]
    store.articles.save_gathered(new=items, changed=[], touched=[], state=None, now=NOW)
    found = store.articles.newest()
    assert [a.id for a in found] == ["a2", "a1", "a0"]  # newest first
    assert found[2] == items[0].article
    assert found[2].published.tzinfo is not None


def test_migrate_twice_keeps_data(store: Store, store_url: str):
    store.articles.save_gathered(new=[stored(1)], changed=[], touched=[], state=None, now=NOW)
    store.db.migrate()
    again = Store.open(store_url)
    assert again.articles.count() == 1
    with again.db.engine.connect() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert head == ScriptDirectory.from_config(_config()).get_current_head()
    again.close()


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def test_an_old_database_is_upgraded_in_place(store_url: str):
    engine = create_store_engine(store_url)
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    engine.dispose()
    engine = create_store_engine(store_url)
    with engine.begin() as conn:  # a row as version 0001 stored it (no visible_since yet)
        row = {k: v for k, v in _row(stored(1), NOW).items() if k != "language"}  # from 0008
        conn.execute(articles.insert().values(row | {"first_seen": NOW}))
    engine.dispose()
    store = Store.open(store_url)
    tables = set(inspect(store.db.engine).get_table_names())
    assert {"articles", "source_state", "subscribers", "editions", "deliveries"} <= tables
    assert store.articles.get("a1") == stored(1).article
    with store.db.engine.connect() as conn:  # backfilled by migration 0003
        assert conn.execute(select(articles.c.visible_since)).scalar_one() == NOW
    store.close()


def test_a_failed_write_leaves_nothing_half_done(store: Store):
    store.articles.save_gathered(new=[stored(1)], changed=[], touched=[], state=None, now=NOW)
    state = SourceState(key="k", etag='"e"', item_count=2)
    with pytest.raises(Exception):  # noqa: B017 - the database's own integrity error
        store.articles.save_gathered(
            new=[stored(2), stored(3, title=None)], changed=[], touched=[], state=state, now=NOW
        )
    assert store.articles.count() == 1
    assert store.articles.source_state("k") == SourceState(key="k")


def test_source_state_upsert(store: Store):
    store.articles.save_gathered(
        new=[], changed=[], touched=[], state=SourceState(key="k", etag="1"), now=NOW
    )
    store.articles.save_gathered(
        new=[],
        changed=[],
        touched=[],
        state=SourceState(key="k", cursor="c", item_count=4),
        now=NOW,
    )
    assert store.articles.source_state("k") == SourceState(
        key="k", cursor="c", item_count=4, saved=True
    )


def test_update_and_touch(store: Store):
    store.articles.save_gathered(new=[stored(1)], changed=[], touched=[], state=None, now=NOW)
    store.articles.save_gathered(
        new=[], changed=[stored(1, title="New")], touched=[], state=None, now=NOW
    )
    store.articles.save_gathered(
        new=[], changed=[], touched=[("a1", "moved.md", "9:9")], state=None, now=NOW
    )
    assert store.articles.get("a1").title == "New"
    assert store.articles.fingerprints("world:markdown:content/world") == {"moved.md": "9:9"}
    assert store.articles.existing(["a1", "zzz"]).keys() == {"a1"}


def test_naive_datetimes_are_refused(store: Store):
    item = stored(1, published=datetime(2026, 1, 1))
    with pytest.raises(Exception, match="naive datetime"):
        store.articles.save_gathered(new=[item], changed=[], touched=[], state=None, now=NOW)


def test_the_migrations_build_the_schema_the_code_declares(store: Store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from publisher.store.schema import metadata

    with store.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_served_dates_move_to_their_table_and_deliveries_stay(store_url: str):
    """0009 moves each reader's last local date served out of `subscribers`; dropping the
    column must not drop the table (a copy-and-drop would cascade to the deliveries)."""
    engine = create_store_engine(store_url)
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0008")
        insert_old_rows(conn)
    engine.dispose()
    upgraded = Store.open(store_url)
    with upgraded.db.engine.connect() as conn:
        served = conn.execute(text("SELECT subscriber_id, local_date FROM daily_served")).all()
        kept = conn.execute(text("SELECT count(*) FROM deliveries")).scalar_one()
    assert [tuple(row) for row in served] == [(1, "2026-12-01")]
    assert kept == 2
    columns = {c["name"] for c in inspect(upgraded.db.engine).get_columns("subscribers")}
    assert "last_daily" not in columns
    upgraded.close()


def insert_old_rows(conn) -> None:
    now = "2026-12-01 07:00:00"
    for n, last in ((1, "'2026-12-01'"), (2, "NULL")):
        conn.execute(
            text(
                "INSERT INTO subscribers (id, email, name, status, sections, frequency, secret,"
                " created_at, updated_at, last_daily) VALUES (:id, :email, '', 'confirmed',"
                f" '[\"world\"]', 'daily', 's', :now, :now, {last})"
            ),
            {"id": n, "email": f"r{n}@example.com", "now": now},
        )
    conn.execute(
        text(
            "INSERT INTO editions (id, key, kind, cutoff, created_at)"
            " VALUES (1, 'k', 'daily', :now, :now)"
        ),
        {"now": now},
    )
    conn.execute(
        text(
            "INSERT INTO edition_variants (id, edition_id, fingerprint, article_ids)"
            " VALUES (1, 1, 'f', '[]')"
        )
    )
    for n in (1, 2):
        conn.execute(
            text(
                "INSERT INTO deliveries (edition_id, subscriber_id, variant_id, state, attempts,"
                " message_id, created_at, updated_at)"
                " VALUES (1, :n, 1, 'sent', 1, :mid, :now, :now)"
            ),
            {"n": n, "mid": f"<{n}@x>", "now": now},
        )
