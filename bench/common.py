"""What the benchmarks share: the sample portal's sections (as in settings.toml), and the
repository root on the import path (for the test helpers some benchmarks use)."""

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECTIONS = [
    "world",
    "opinion",
    "international-relations",
    "indigenous-affairs",
    "business",
    "culture",
]

PG_ADMIN = os.environ.get("PUBLISHER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def postgres(template: str = "") -> Iterator[str]:
    """A fresh PostgreSQL database (a copy of the database named `template`, when given),
    dropped afterwards; its SQLAlchemy URL."""
    import psycopg

    name = f"publisher_bench_{uuid.uuid4().hex[:8]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield (
            PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
            + f"/{name}"
        )
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
