"""Windows: parsing durations, half-open bounds, reproducible ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mlctl.errors import UsageError
from mlctl.monitor.window import Window, parse_window

pytestmark = pytest.mark.unit

NOW = 1_714_564_800.0  # 2024-05-01T12:00:00Z


@pytest.mark.parametrize(
    ("spec", "seconds"),
    [("90m", 5400), ("24h", 86400), ("7d", 604800), ("2w", 1209600), (" 1h ", 3600)],
)
def test_units(spec: str, seconds: int) -> None:
    assert parse_window(spec, now=NOW) == Window(NOW - seconds, NOW)


def test_same_now_same_window_and_default_now_is_the_clock() -> None:
    assert parse_window("7d", now=NOW) == parse_window("7d", now=NOW)
    w = parse_window("1h")
    assert 0 <= datetime.now(UTC).timestamp() - w.end < 60


def test_now_as_datetime_naive_means_utc() -> None:
    aware = datetime(2024, 5, 1, 12, tzinfo=UTC)
    naive = datetime(2024, 5, 1, 12)
    paris = datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    assert parse_window("1d", now=aware).end == NOW
    assert parse_window("1d", now=naive).end == NOW
    assert parse_window("1d", now=paris).end == NOW


@pytest.mark.parametrize("spec", ["24x", "1M", "1y", "h", "24", "1.5h", "-1h", "", "24 h", "1H"])
def test_bad_specs_name_the_value_and_units(spec: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_window(spec, now=NOW)
    assert repr(spec) in str(err.value)
    assert "m (minutes), h (hours), d (days) or w (weeks)" in str(err.value)


def test_zero_and_absurd_lengths() -> None:
    with pytest.raises(UsageError, match="'0h' is empty"):
        parse_window("0h", now=NOW)
    with pytest.raises(UsageError, match="longer than ten years"):
        parse_window("99999w", now=NOW)


def test_not_a_string() -> None:
    with pytest.raises(UsageError, match="not a duration"):
        parse_window(24, now=NOW)  # type: ignore[arg-type]


def test_half_open() -> None:
    w = Window(100, 200)
    assert w.contains(100) and w.contains(199.999) and not w.contains(200)
    assert not w.contains(99.999)
    assert w.seconds == 100


@pytest.mark.parametrize(("start", "end"), [(200, 100), (100, 100), (float("nan"), 1), (0, "1")])
def test_window_must_be_a_range(start, end) -> None:
    with pytest.raises(ValueError, match="parameter of Window"):
        Window(start, end)


def test_closed_after_grace() -> None:
    w = Window(0, NOW)
    assert not w.is_closed(now=NOW + 30, grace=60)
    assert w.is_closed(now=NOW + 60, grace=60)


def test_to_dict() -> None:
    assert parse_window("1h", now=NOW).to_dict() == {
        "start": NOW - 3600,
        "end": NOW,
        "start_utc": "2024-05-01T11:00:00Z",
        "end_utc": "2024-05-01T12:00:00Z",
        "seconds": 3600.0,
    }
