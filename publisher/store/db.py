"""The database: SQLite (WAL) by default, PostgreSQL by URL; migrated in place with Alembic."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Engine,
    Integer,
    any_,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from publisher.errors import StoreError

MIGRATIONS = Path(__file__).parent / "migrations"
CHUNK = 500  # rows per IN (...) list or bulk statement


def create_store_engine(url: str) -> Engine:
    """An engine with the settings each backend needs (WAL and immediate writes on SQLite)."""
    if url.startswith("sqlite"):
        _make_parent(url)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_recycle=1800)


def _make_parent(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:" and "://" in url:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Legacy pysqlite transaction handling never BEGINs before a SELECT; take control
    # so the "begin" hook can issue BEGIN IMMEDIATE and writers wait instead of failing.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front, so they wait on busy_timeout instead of failing
    # with SQLITE_BUSY when a read transaction tries to upgrade; readers never block writers.
    immediate = conn.get_execution_options().get("immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The engine, write transactions, locks and migrations; the stores share one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Database:
        """Connect and bring the schema up to date."""
        try:
            database = cls(create_store_engine(url))
            database.migrate()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the database: {exc.__class__.__name__}: {exc}") from exc
        return database

    @property
    def is_postgresql(self) -> bool:
        """True on PostgreSQL (advisory locks, SKIP LOCKED), False on SQLite."""
        return self.engine.dialect.name == "postgresql"

    def migrate(self) -> None:
        """Upgrade the schema in place to the newest migration (idempotent)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.writing() as conn:
            lock(conn, "migrate")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction (on SQLite it holds the write lock from its first statement)."""
        with self.engine.connect() as conn:
            conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read transaction (one snapshot for all its statements)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn


# The largest id an Integer column holds on PostgreSQL (int4): a larger one, say from a
# forged link, is simply not there, on both backends, instead of a DataError on one.
MAX_ID = 2**31 - 1


def valid_ids(ids: Iterable[int]) -> list[int]:
    """The distinct ids that a row can have, in order."""
    return [i for i in dict.fromkeys(ids) if 0 < i <= MAX_ID]


def lock(conn: Connection, name: str) -> None:
    """Serialise this transaction with every other that takes the lock of `name`.

    PostgreSQL: an advisory lock held until the transaction ends. SQLite: a write transaction
    already holds the database's one write lock from its first statement (BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"publisher:{name}".encode())
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def among(dialect: str, column: Any, ids: Iterable[int]) -> list[Any]:
    """`column` is one of `ids`, in as few conditions as the backend allows (a statement
    each): one `= ANY(array)` on PostgreSQL however many ids, IN lists of `CHUNK` on
    SQLite (a parameter each)."""
    if dialect == "postgresql":
        return [column == any_(id_array(ids))]
    return [column.in_(chunk) for chunk in chunks(sorted(set(ids)))]


def id_array(ids: Iterable[int]) -> Any:
    """Distinct ids as one PostgreSQL array parameter."""
    return bindparam(None, sorted(set(ids)), type_=ARRAY(Integer))


def dialect_insert(conn: Connection) -> Any:
    """The `insert` of this connection's dialect (for ON CONFLICT clauses)."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert


def chunks(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    """`items` in lists of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
