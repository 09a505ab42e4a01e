"""Progress off a terminal: timestamped lines in the order things happen."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from mlctl.cli.run import RunProgress
from mlctl.cli.sweep import SweepProgress

pytestmark = pytest.mark.unit

STAMP = r"\d\d:\d\d:\d\d "


def events(progress: RunProgress) -> None:
    progress.on_event("stage", {"message": "loading and checking data"})
    progress.on_event("candidate_start", {"candidate": "logreg", "estimator": "lr", "fits": 20})
    for _ in range(20):
        progress.on_event("fold_done", {"candidate": "logreg"})
    result = SimpleNamespace(error=None, notes=["few rows"])
    progress.on_event("candidate_done", {"candidate": "logreg", "result": result})
    progress.on_event("stage", {"message": "evaluating logreg on the test set"})


def test_plain_lines_are_timestamped_in_order_and_thinned(capsys):
    with RunProgress(enabled=True, plain=True) as progress:
        events(progress)
    lines = capsys.readouterr().err.splitlines()
    assert all(re.match(STAMP, line) for line in lines), lines
    text = [line[9:] for line in lines]
    assert text[0] == "• loading and checking data"
    assert text[1] == "logreg (lr): started, 20 folds"
    # one line per tenth of the folds, not one per fold
    assert text[2:12] == [f"logreg (lr): {n}/20 folds" for n in range(2, 21, 2)]
    assert re.fullmatch(r"logreg \(lr\): done in \d+\.\d s", text[12])
    assert text[13:] == ["  note: logreg: few rows", "• evaluating logreg on the test set"]


def test_a_terminal_gets_bars_with_an_eta(capsys):
    with RunProgress(enabled=True, plain=False) as progress:
        assert progress.progress.disable is False
        columns = [type(c).__name__ for c in progress.progress.columns]
        assert "TimeRemainingColumn" in columns
        events(progress)


def test_disabled_progress_prints_nothing(capsys):
    with RunProgress(enabled=False, plain=True) as progress:
        events(progress)
    assert capsys.readouterr().err == ""


def test_sweep_lines_count_jobs(capsys):
    record = SimpleNamespace(
        job=0,
        overrides=["split.seed=1"],
        status="ready",
        selection_metric="roc_auc",
        cv_mean=0.85,
        seconds=3.0,
        error=None,
    )
    with SweepProgress(enabled=True, plain=True) as progress:
        progress.on_event(
            "sweep_started",
            {
                "sweep_id": "s",
                "sweeper": "basic",
                "launcher": "basic",
                "run_id": "r",
                "planned": 2,
                "swept_keys": ["split.seed"],
            },
        )
        progress.on_event("job_done", {"record": record})
        progress.on_event("job_done", {"record": record})
    err = capsys.readouterr().err
    assert "sweep: 1/2 jobs" in err and "sweep: 2/2 jobs" in err
    assert err.count("job #0 (split.seed=1): cv roc_auc 0.8500, ready") == 2
