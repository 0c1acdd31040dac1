"""What the benchmarks share: the sample portal's sections (as in settings.toml), and the
repository root on the import path (for the test helpers some benchmarks use)."""

import sys
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
