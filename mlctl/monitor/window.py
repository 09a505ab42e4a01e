"""Time windows of ``mlctl monitor``: half-open ``[start, end)`` ranges in epoch seconds.

A :class:`Window` is half-open, ``[start, end)`` in epoch seconds (UTC), so
consecutive windows never share a row and a window with a fixed end always selects
the same rows once no more rows can arrive for it (a row's ``ts`` is taken before its
commit, so allow the server's request timeout after ``end``: :meth:`Window.is_closed`).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlctl.errors import UsageError
from mlctl.text import iso_utc

UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
UNIT_NAMES = "m (minutes), h (hours), d (days) or w (weeks)"
MAX_WINDOW_SECONDS = 520 * UNITS["w"]  # ten years: past that, a typo
_SPEC = re.compile(r"(\d+)([a-zA-Z]+)")


@dataclass(frozen=True)
class Window:
    """The half-open time range ``[start, end)``, in epoch seconds (UTC)."""

    start: float
    end: float

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(
                    f"The '{name}' parameter of Window must be a finite number of epoch "
                    f"seconds. Got {value!r} instead."
                )
        if self.end <= self.start:
            raise ValueError(
                f"The 'end' parameter of Window must be after start ({self.start}). "
                f"Got {self.end} instead."
            )
        object.__setattr__(self, "start", float(self.start))
        object.__setattr__(self, "end", float(self.end))

    @classmethod
    def ending(cls, end: float | datetime, seconds: float) -> Window:
        """The ``seconds`` before ``end``."""
        stop = _epoch(end)
        return cls(stop - seconds, stop)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def contains(self, ts: float) -> bool:
        return self.start <= ts < self.end

    def is_closed(self, now: float | None = None, grace: float = 60.0) -> bool:
        """Whether ``end`` is at least ``grace`` seconds past: no more rows can arrive.

        Use the server's request timeout (or more) as ``grace``.
        """
        return self.end + grace <= (time.time() if now is None else now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "start_utc": _iso(self.start),
            "end_utc": _iso(self.end),
            "seconds": self.seconds,
        }


def parse_window(spec: str, now: float | datetime | None = None) -> Window:
    """The window of length ``spec`` ("90m", "24h", "7d", "2w") ending at ``now``.

    Args:
        spec: A whole number followed by one unit: m, h, d or w.
        now: The end of the window: epoch seconds or a datetime (naive means UTC);
            default: the current time. The same ``now`` gives the same window.

    Raises:
        UsageError: ``spec`` is not such a duration, is zero or longer than 520w.
    """
    text = spec.strip() if isinstance(spec, str) else ""
    match = _SPEC.fullmatch(text)
    if match is None or match[2] not in UNITS:
        raise UsageError(
            f"window {spec!r} is not a duration: expected a whole number followed by "
            f"{UNIT_NAMES}, e.g. 24h or 7d"
        )
    count = int(match[1])
    seconds = count * UNITS[match[2]]
    if count == 0:
        raise UsageError(f"window {spec!r} is empty: give at least 1{match[2]}")
    if seconds > MAX_WINDOW_SECONDS:
        raise UsageError(f"window {spec!r} is longer than ten years (520w): is it a typo?")
    return Window.ending(time.time() if now is None else now, seconds)


def _epoch(value: float | datetime) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)


def _iso(ts: float) -> str | None:
    """:func:`mlctl.text.iso_utc`, or None for a time the platform cannot represent
    (a window's bounds are any finite number)."""
    try:
        return iso_utc(ts)
    except (OverflowError, OSError, ValueError):
        return None


def check_chunk_rows(chunk_rows: int) -> None:
    """A source reads a window ``chunk_rows`` at a time: a positive int."""
    if not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(
            f"The 'chunk_rows' parameter must be a positive int. Got {chunk_rows!r} instead."
        )
