"""What the benchmarks share: the sample portal's sections (as in settings.toml), and the
repository root on the import path (for the test helpers some benchmarks use)."""

import sys
from contextlib import AbstractContextManager
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


def postgres(template: str = "") -> AbstractContextManager[str]:
    """A fresh PostgreSQL database (a copy of `template`, when given), dropped afterwards."""
    from tests.conftest import scratch_postgres

    return scratch_postgres("publisher_bench", template)
