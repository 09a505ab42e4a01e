"""Is the service getting the traffic it usually gets?

Predictions per hour in a recent window against a baseline window just before it.
Hours are counted back from the end of the check (to the whole second): the recent
window is the last ``recent_hours`` hours up to ``end`` (so rows logged a minute ago
count), the baseline the ``baseline_hours`` hours before it. An hour without a
prediction counts as zero once the service has a history. Before the history starts
(the first logged prediction) hours are not zeros but "no history": too few of them
in the baseline gives ``not_enough_history``, a status of its own, not an alarm.

The recent rate is the mean per hour (every missing prediction counts); the
baseline rate is the median per hour by default (one busy or dead hour does not
move it) or the mean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlctl.monitor.window import Window
from mlctl.text import iso_utc, json_number

HOUR = 3600
OK, DROP, SPIKE, NOT_ENOUGH_HISTORY = "ok", "drop", "spike", "not_enough_history"
STATISTICS = ("median", "mean")


def volume_window(end: float, recent_hours: int, baseline_hours: int) -> Window:
    """The hours a volume check reads: baseline then recent, ending at ``end`` (floored
    to the second, so every hour starts on a whole second).

    Pass it to :meth:`~mlctl.monitor.log_source.LogSource.hourly_counts` with
    ``origin=window.start``, so that the database's hours are the check's hours.
    """
    stop = math.floor(end)
    return Window(stop - (recent_hours + baseline_hours) * HOUR, stop)


@dataclass
class VolumeResult:
    """The verdict of one volume check and the hourly counts behind it."""

    status: str  # "ok", "drop", "spike" or "not_enough_history"
    message: str
    recent: Window
    baseline: Window
    recent_total: int
    recent_per_hour: float
    recent_zero_hours: int
    baseline_hours_with_history: int
    baseline_per_hour: float | None
    baseline_statistic: str
    ratio: float | None  # recent / baseline rate
    max_drop_share: float
    max_spike_factor: float
    min_baseline_hours: int
    hourly: list[tuple[int, int | None]] = field(default_factory=list)  # None: no history

    @property
    def flagged(self) -> bool:
        return self.status in (DROP, SPIKE)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "flagged": self.flagged,
            "recent": {
                **self.recent.to_dict(),
                "hours": round(self.recent.seconds / HOUR),
                "total": self.recent_total,
                "per_hour": json_number(self.recent_per_hour),
                "zero_hours": self.recent_zero_hours,
            },
            "baseline": {
                **self.baseline.to_dict(),
                "hours": round(self.baseline.seconds / HOUR),
                "hours_with_history": self.baseline_hours_with_history,
                "per_hour": json_number(self.baseline_per_hour),
                "statistic": self.baseline_statistic,
            },
            "ratio": json_number(self.ratio),
            "limits": {
                "max_drop_share": self.max_drop_share,
                "max_spike_factor": self.max_spike_factor,
                "min_baseline_hours": self.min_baseline_hours,
            },
            "hourly": [{"hour": h, "hour_utc": iso_utc(h), "count": c} for h, c in self.hourly],
        }


def volume_check(
    hourly_counts: pd.DataFrame | Mapping[int, int] | pd.Series,
    recent_hours: int,
    baseline_hours: int,
    max_drop_share: float,
    max_spike_factor: float,
    min_baseline_hours: int,
    end: float | None = None,
    history_start: float | None = None,
    baseline_statistic: str = "median",
) -> VolumeResult:
    """Judge the recent hourly volume against the baseline.

    Args:
        hourly_counts: Predictions per hour: a frame of ``hour`` (epoch seconds of
            the hour's start) and ``count`` (as
            :meth:`~mlctl.monitor.log_source.LogSource.hourly_counts` returns), a Series
            or a mapping hour -> count. Hours that are absent had no predictions. An
            hour is counted in the check's hour (counted back from ``end``) that holds
            its start: bucket from :func:`volume_window`'s start to be exact.
        recent_hours: Length of the recent window, in hours.
        baseline_hours: Length of the baseline window just before it, in hours.
        max_drop_share: Flag a drop when the recent rate is lower than the baseline's
            by more than this share (0.5: less than half the usual volume).
        max_spike_factor: Flag a spike when the recent rate is more than this many
            times the baseline's.
        min_baseline_hours: Fewer baseline hours with history: ``not_enough_history``.
        end: The end of the check (epoch seconds): the recent window ends there.
            Default: one hour after the last hour in ``hourly_counts``.
        history_start: When the service began logging (e.g.
            :meth:`~mlctl.monitor.log_source.LogSource.first_ts`); history starts with
            the first of the check's hours that begins at or after it. Default: the
            first hour in ``hourly_counts`` with a prediction.
        baseline_statistic: "median" or "mean" predictions per hour of the baseline.

    Raises:
        ValueError: a parameter out of range (named, with the value found).
    """
    _check(recent_hours, baseline_hours, max_drop_share, max_spike_factor, min_baseline_hours)
    if baseline_statistic not in STATISTICS:
        raise ValueError(
            "The 'baseline_statistic' parameter of volume_check must be one of "
            f"{', '.join(STATISTICS)}. Got {baseline_statistic!r} instead."
        )
    pairs = _as_pairs(hourly_counts)
    if end is None:
        end = (max(h for h, _ in pairs) + HOUR) if pairs else 0.0
    window = volume_window(end, recent_hours, baseline_hours)
    origin = int(window.start)
    counts = _bucket(pairs, origin)
    split = window.end - recent_hours * HOUR
    recent, baseline = Window(split, window.end), Window(window.start, split)
    if history_start is not None:
        first = origin + math.ceil((history_start - origin) / HOUR) * HOUR
    else:
        seen = [h for h, c in counts.items() if c > 0]
        first = min(seen) if seen else math.inf
    hours = range(origin, int(window.end), HOUR)
    # The hour in which logging began is only part history: it does not set the usual
    # rate, but its rows are real traffic and count in the recent total when recent.
    hourly = [(h, counts.get(h, 0) if h >= first or counts.get(h) else None) for h in hours]
    base = np.array([c for h, c in hourly if first <= h < split], dtype=float)
    late = np.array([counts.get(h, 0) for h in hours if h >= split], dtype=float)
    recent_total = int(late.sum())
    recent_rate = recent_total / recent_hours
    result = VolumeResult(
        status=OK,
        message="",
        recent=recent,
        baseline=baseline,
        recent_total=recent_total,
        recent_per_hour=recent_rate,
        recent_zero_hours=int((late == 0).sum()),
        baseline_hours_with_history=int(base.size),
        baseline_per_hour=None,
        baseline_statistic=baseline_statistic,
        ratio=None,
        max_drop_share=float(max_drop_share),
        max_spike_factor=float(max_spike_factor),
        min_baseline_hours=int(min_baseline_hours),
        hourly=hourly,
    )
    if base.size < max(1, min_baseline_hours):
        result.status = NOT_ENOUGH_HISTORY
        result.message = (
            f"not enough history to judge: {base.size} of the {min_baseline_hours} "
            f"baseline hours needed have history ({recent_total:,} predictions, "
            f"{recent_rate:.1f} predictions/hour in the last {recent_hours} h)"
        )
        return result
    base_rate = float(np.median(base) if baseline_statistic == "median" else base.mean())
    result.baseline_per_hour = base_rate
    if base_rate > 0:
        result.ratio = recent_rate / base_rate
    rates = (
        f"{recent_rate:.1f} predictions/hour in the last {recent_hours} h against "
        f"{base_rate:.1f} ({baseline_statistic} of the {base.size} h before)"
    )
    if base_rate > 0 and recent_rate < base_rate * (1 - max_drop_share):
        result.status = DROP
        fewer = 1 - recent_rate / base_rate
        result.message = (
            f"volume drop: {rates}: {100 * fewer:.0f} % fewer, more than the "
            f"{100 * max_drop_share:.0f} % allowed"
        )
    elif recent_rate > base_rate * max_spike_factor:
        result.status = SPIKE
        times = "from none" if base_rate == 0 else f"{recent_rate / base_rate:.1f} times"
        result.message = (
            f"volume spike: {rates}: {times}, more than the {max_spike_factor:g} times allowed"
        )
    else:
        result.message = f"volume ok: {rates}"
    return result


def _bucket(pairs: list[tuple[float, int]], origin: int) -> dict[int, int]:
    """hour start -> count, each hour in the check's hour (from ``origin``) that holds it."""
    out: dict[int, int] = {}
    for hour, count in pairs:
        h = origin + math.floor((hour - origin) / HOUR) * HOUR
        out[h] = out.get(h, 0) + count
    return out


def _as_pairs(hourly_counts: Any) -> list[tuple[float, int]]:
    """(hour start, count) pairs, checked."""
    if isinstance(hourly_counts, pd.DataFrame):
        missing = {"hour", "count"} - set(hourly_counts.columns)
        if missing:
            raise ValueError(
                "The 'hourly_counts' parameter of volume_check must have columns 'hour' "
                f"and 'count'. Got {list(hourly_counts.columns)} instead."
            )
        pairs = zip(hourly_counts["hour"], hourly_counts["count"], strict=True)
    elif isinstance(hourly_counts, pd.Series):
        pairs = hourly_counts.items()
    else:
        pairs = dict(hourly_counts).items()
    out: list[tuple[float, int]] = []
    for hour, count in pairs:
        c = int(count)
        if c < 0:
            raise ValueError(f"hourly count {c} for hour {hour} is negative")
        out.append((float(hour), c))
    return out


def _check(
    recent_hours: Any,
    baseline_hours: Any,
    max_drop_share: Any,
    max_spike_factor: Any,
    min_baseline_hours: Any,
) -> None:
    rules = [
        ("recent_hours", recent_hours, _is_int(recent_hours) and recent_hours >= 1, "an int >= 1"),
        (
            "baseline_hours",
            baseline_hours,
            _is_int(baseline_hours) and baseline_hours >= 1,
            "an int >= 1",
        ),
        (
            "max_drop_share",
            max_drop_share,
            _is_num(max_drop_share) and 0 < max_drop_share <= 1,
            "a number in (0, 1]",
        ),
        (
            "max_spike_factor",
            max_spike_factor,
            _is_num(max_spike_factor) and max_spike_factor > 1,
            "a number > 1",
        ),
        (
            "min_baseline_hours",
            min_baseline_hours,
            _is_int(min_baseline_hours)
            and _is_int(baseline_hours)
            and 0 <= min_baseline_hours <= baseline_hours,
            "an int between 0 and baseline_hours",
        ),
    ]
    for name, value, ok, expected in rules:
        if not ok:
            raise ValueError(
                f"The '{name}' parameter of volume_check must be {expected}. Got {value!r} instead."
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))
