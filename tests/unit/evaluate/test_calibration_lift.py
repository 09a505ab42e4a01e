"""Brier score, ECE and lift on arrays small enough to check by hand."""

import numpy as np
import pytest

from mlctl.evaluate.calibration import (
    brier,
    calibration_summary,
    equal_count_bins,
    expected_calibration_error,
)
from mlctl.evaluate.lift import lift_table, top_decile_lift

pytestmark = pytest.mark.unit


def test_brier_is_the_mean_squared_gap() -> None:
    # (0.1² + 0.1² + 0.4² + 0.4²) / 4 = 0.085
    assert brier([0, 1, 1, 0], [0.1, 0.9, 0.6, 0.4]) == pytest.approx(0.085)


def test_the_reference_is_always_predicting_the_training_base_rate() -> None:
    summary = calibration_summary([0, 1, 1, 0], [0.1, 0.9, 0.6, 0.4], base_rate=0.25)
    # (0.25² + 0.75² + 0.75² + 0.25²) / 4 = 0.3125
    assert summary["brier_reference"] == pytest.approx(0.3125)
    assert summary["brier"] == pytest.approx(0.085)


def test_ece_of_two_equal_count_bins() -> None:
    # sorted by p: [0.1, 0.3 | 0.6, 1.0] with outcomes [0, 1 | 1, 1]
    bins = equal_count_bins([1, 0, 1, 1], [0.3, 0.1, 1.0, 0.6], n_bins=2)
    assert bins == [
        {"mean_predicted": pytest.approx(0.2), "fraction_positive": 0.5, "rows": 2},
        {"mean_predicted": pytest.approx(0.8), "fraction_positive": 1.0, "rows": 2},
    ]
    # 0.5 * |0.2 - 0.5| + 0.5 * |0.8 - 1.0| = 0.25
    assert expected_calibration_error(bins) == pytest.approx(0.25)


def test_ten_bins_of_equal_count_and_zero_ece_when_rates_match() -> None:
    # 20 rows: each pair shares a probability, and half of each pair is positive at 0.5
    p = np.repeat(np.linspace(0.05, 0.95, 10), 2)
    y = (p >= 0.5).astype(int)
    summary = calibration_summary(y, p, base_rate=0.5)
    assert [b["rows"] for b in summary["bins"]] == [2] * 10
    # Perfect rates: p near 0 and 1 are wrong by their distance, so ECE is the mean |p - y|
    assert summary["ece"] == pytest.approx(np.mean(np.abs(p - y)))
    calibrated = calibration_summary([0, 1] * 10, [0.5] * 20, base_rate=0.5)
    assert calibrated["ece"] == pytest.approx(0.0)


def test_fewer_rows_than_bins_gives_one_bin_a_row() -> None:
    assert [b["rows"] for b in equal_count_bins([0, 1, 1], [0.2, 0.5, 0.9])] == [1, 1, 1]


def test_lift_deciles_of_a_constructed_ranking() -> None:
    # 100 rows scored 100..1; the top 10 and the 10 ranked 51-60 are positive: base 0.2
    score = np.arange(100, 0, -1).astype(float)
    y = np.zeros(100, dtype=int)
    y[:10] = 1
    y[50:60] = 1
    shuffle = np.random.default_rng(0).permutation(100)
    lift = lift_table(y[shuffle], score[shuffle])
    assert lift["base_rate"] == pytest.approx(0.2)
    first, second, sixth, last = (lift["bins"][i] for i in (0, 1, 5, 9))
    assert first == {
        "decile": 1,
        "rows": 10,
        "positives": 10,
        "rate": 1.0,
        "lift": pytest.approx(5.0),
        "cumulative_lift": pytest.approx(5.0),
        "gain": pytest.approx(0.5),
    }
    assert (second["lift"], second["cumulative_lift"], second["gain"]) == (
        0.0,
        pytest.approx(2.5),
        pytest.approx(0.5),
    )
    # 20 positives in the first 60 rows: (20 / 60) / 0.2
    assert sixth["lift"] == pytest.approx(5.0)
    assert sixth["cumulative_lift"] == pytest.approx(5 / 3)
    assert sixth["gain"] == pytest.approx(1.0)
    assert last["cumulative_lift"] == pytest.approx(1.0)
    assert top_decile_lift(lift) == pytest.approx(5.0)


def test_lift_without_positives_is_none() -> None:
    lift = lift_table([0] * 20, np.linspace(0, 1, 20))
    assert lift["base_rate"] == 0.0
    assert {b["lift"] for b in lift["bins"]} == {None}
    assert top_decile_lift(lift) is None and top_decile_lift(None) is None
