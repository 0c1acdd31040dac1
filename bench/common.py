"""What the benchmarks share: the sample portal's sections (as in settings.toml)."""

SECTIONS = [
    "world",
    "opinion",
    "international-relations",
    "indigenous-affairs",
    "business",
    "culture",
]
