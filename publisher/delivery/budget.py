"""The error budget: a send pauses when too many of its latest results are errors."""

from __future__ import annotations

from collections import Counter, deque


class ErrorBudget:
    """Over budget when more than `ratio` of a window of `window` results are errors (counted
    against the whole window, so that a bad start pauses early and a few errors in a short
    send do not)."""

    def __init__(self, window: int, ratio: float) -> None:
        self.window = window
        self.limit = int(window * ratio)
        self._latest: deque[bool] = deque(maxlen=window)
        self._errors = 0
        self._reasons: Counter[str] = Counter()

    def add(self, *, failed: bool, error: str = "") -> bool:
        """Count one result; True when the budget is spent."""
        if len(self._latest) == self.window and self._latest[0]:
            self._errors -= 1
        self._latest.append(failed)
        if failed:
            self._errors += 1
            self._reasons[_kind(error)] += 1
        return self._errors > self.limit

    def reason(self) -> str:
        """One line: how many errors, and the commonest."""
        common, seen = self._reasons.most_common(1)[0] if self._reasons else ("", 0)
        return (
            f"{self._errors} errors in the last {len(self._latest)} messages "
            f"(more than {self.limit} of {self.window}); commonest ({seen}x): {common}"
        )


def _kind(error: str) -> str:
    """An error without the recipient, so that errors of one kind count together."""
    head, _, said = error.partition(": ")
    step = head.split(" for ", 1)[0]
    return f"{step}: {said}"[:160] if said else error[:160]
