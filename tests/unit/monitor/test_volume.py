"""Volume rules: drop, spike, not enough history, gaps as zeros, hours back from the end."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mlctl.monitor.volume import volume_check, volume_window

pytestmark = pytest.mark.unit

H = 3600
T0 = 1_714_521_600  # 2024-05-01T00:00:00Z, an hour boundary
END = T0 + 192 * H  # 168 baseline hours, then 24 recent hours


def steady(per_hour: int = 100, hours: int = 192) -> dict[int, int]:
    return {T0 + i * H: per_hour for i in range(hours)}


def check(counts, **kw):
    args = {
        "recent_hours": 24,
        "baseline_hours": 168,
        "max_drop_share": 0.5,
        "max_spike_factor": 3.0,
        "min_baseline_hours": 72,
        "end": END,
    }
    args.update(kw)
    return volume_check(counts, **args)


def test_steady_traffic_is_ok() -> None:
    r = check(steady())
    assert r.status == "ok" and not r.flagged
    assert r.recent_per_hour == 100 and r.baseline_per_hour == 100 and r.ratio == 1
    assert r.recent.start == END - 24 * H and r.baseline.start == T0
    assert r.message.startswith("volume ok: 100.0 predictions/hour in the last 24 h")


def test_drop_beyond_the_limit() -> None:
    counts = steady()
    for i in range(168, 192):
        counts[T0 + i * H] = 40
    r = check(counts)
    assert r.status == "drop" and r.flagged
    assert r.ratio == pytest.approx(0.4)
    assert "60 % fewer, more than the 50 % allowed" in r.message


def test_drop_within_the_limit_is_ok() -> None:
    counts = steady()
    for i in range(168, 192):
        counts[T0 + i * H] = 60
    assert check(counts).status == "ok"


def test_spike() -> None:
    counts = steady()
    for i in range(168, 192):
        counts[T0 + i * H] = 301
    r = check(counts)
    assert r.status == "spike" and "3.0 times" in r.message


def test_hours_without_predictions_count_as_zeros() -> None:
    counts = steady()
    for i in range(168, 192):  # the recent window: only 8 of 24 hours have traffic
        if i % 3:
            del counts[T0 + i * H]
    r = check(counts)
    assert r.recent_zero_hours == 16
    assert r.recent_per_hour == pytest.approx(100 * 8 / 24)
    assert r.status == "drop"


def test_a_silent_recent_window_is_a_drop() -> None:
    counts = {h: c for h, c in steady().items() if h < END - 24 * H}
    r = check(counts)
    assert r.status == "drop" and r.recent_total == 0 and r.ratio == 0


def test_not_enough_history_from_the_data() -> None:
    counts = {h: c for h, c in steady().items() if h >= END - 24 * H - 30 * H}
    r = check(counts)
    assert r.status == "not_enough_history" and not r.flagged
    assert r.baseline_hours_with_history == 30
    assert r.message.startswith("not enough history to judge: 30 of the 72 baseline hours")
    assert r.baseline_per_hour is None


def test_history_start_given_starts_at_the_next_whole_hour() -> None:
    # Service started at 10 min past an hour: that partial hour is not history.
    start = END - 24 * H - 100 * H + 600
    counts = {h: c for h, c in steady().items() if h >= start - 600}
    r = check(counts, history_start=start)
    assert r.baseline_hours_with_history == 99
    assert r.status == "ok"


def test_zero_hours_inside_the_history_lower_the_baseline() -> None:
    counts = steady()
    for i in range(1, 168, 2):
        counts[T0 + i * H] = 0  # half the baseline hours silent
    r = check(counts, baseline_statistic="mean")
    assert r.baseline_per_hour == 50 and r.status == "ok"
    assert check(counts).baseline_per_hour == 50  # median of 84 zeros and 84 hundreds


def test_median_ignores_one_huge_hour_mean_does_not() -> None:
    counts = steady()
    counts[T0 + 5 * H] = 100_000
    assert check(counts).baseline_per_hour == 100
    assert check(counts, baseline_statistic="mean").baseline_per_hour > 600


def test_the_recent_hours_end_at_end_so_rows_just_logged_count() -> None:
    """Issue 19: the recent hours used to stop at the hour before ``end``, so rows
    logged in the last minutes were not counted (0.0 predictions/hour)."""
    counts = steady()
    counts[END] = 3  # logged in the 5 minutes before `end`
    r = check(counts, end=END + 300)
    assert r.recent.end == END + 300 and r.recent.start == END + 300 - 24 * H
    assert r.recent_total == 23 * 100 + 3 and r.status == "ok"


def test_default_end_is_after_the_last_hour() -> None:
    r = check(steady(), end=None)
    assert r.recent.end == END


def test_empty_baseline_with_traffic_now_is_a_spike() -> None:
    counts = steady()
    for i in range(168):
        counts[T0 + i * H] = 0
    r = check(counts, history_start=T0 - H)
    assert r.status == "spike" and r.ratio is None and "from none" in r.message


def test_no_data_at_all() -> None:
    r = check({}, end=None)
    assert r.status == "not_enough_history"
    assert check({}).status == "not_enough_history"


def test_accepts_the_log_frame_and_series() -> None:
    counts = steady()
    frame = pd.DataFrame({"hour": list(counts), "count": list(counts.values())})
    assert check(frame).ratio == 1
    assert check(pd.Series(counts)).ratio == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("recent_hours", 0),
        ("baseline_hours", 1.5),
        ("max_drop_share", 0),
        ("max_drop_share", 1.5),
        ("max_spike_factor", 1),
        ("min_baseline_hours", 500),
        ("baseline_statistic", "mode"),
    ],
)
def test_parameters_checked(name: str, value) -> None:
    with pytest.raises(ValueError, match=f"The '{name}' parameter of volume_check"):
        check(steady(), **{name: value})


def test_frame_without_columns() -> None:
    with pytest.raises(ValueError, match="columns 'hour'"):
        check(pd.DataFrame({"h": [1]}))


def test_volume_window_ends_at_end_to_the_second() -> None:
    w = volume_window(END + 1234.7, 24, 168)
    assert (w.start, w.end) == (T0 + 1234, END + 1234)


def test_to_dict_is_json_and_stable() -> None:
    counts = {h: c for h, c in steady().items() if h >= END - 30 * H}
    d = check(counts).to_dict()
    assert list(d) == [
        "status", "message", "flagged", "recent", "baseline", "ratio", "limits", "hourly",
    ]  # fmt: skip
    json.dumps(d, allow_nan=False)
    assert len(d["hourly"]) == 192
    assert d["hourly"][0] == {"hour": T0, "hour_utc": "2024-05-01T00:00:00Z", "count": None}
    assert d["hourly"][-1]["count"] == 100
    assert d["recent"]["hours"] == 24 and d["baseline"]["hours_with_history"] == 6
