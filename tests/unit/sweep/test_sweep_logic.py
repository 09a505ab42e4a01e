"""Sweep logic without running jobs: override probing, Hydra settings, ranking and
the records that travel back through launchers."""

from __future__ import annotations

import math
import pickle

import pytest
from hydra.core.utils import JobReturn, JobStatus

from mlctl.errors import UsageError
from mlctl.sweep.core import JobRecord, JobResult, best_passing, merge_records, rank
from mlctl.sweep.launch import (
    HydraSetup,
    _extra_overrides,
    _inner_jobs,
    _is_hydra_override,
    _probe_overrides,
    _returned_records,
    _swept_keys,
)

pytestmark = pytest.mark.unit


def rec(job: int, status: str = "ready", cv: float | None = 0.8, greater: bool = True):
    return JobRecord(
        job=job,
        overrides=[f"split.seed={job}"],
        status=status,
        cv_mean=None if status == "failed" else cv,
        greater_is_better=greater,
        error="boom" if status == "failed" else None,
    )


def test_probes_compose_every_value_once_with_the_others_at_their_first() -> None:
    base, probes, planned = _probe_overrides(["models=fast,full", "split.seed=1,2,3", "seed=7"])
    assert base == ["models=fast", "split.seed=1", "seed=7"]
    assert probes == [
        ["models=full", "split.seed=1", "seed=7"],
        ["models=fast", "split.seed=2", "seed=7"],
        ["models=fast", "split.seed=3", "seed=7"],
    ]
    assert planned == 6


def test_a_later_override_of_the_same_key_wins_as_in_hydra() -> None:
    base, probes, planned = _probe_overrides(["models=fast,full", "models=fast"])
    assert (base, probes, planned) == (["models=fast"], [], 1)


def test_ranges_and_intervals() -> None:
    base, probes, planned = _probe_overrides(["split.seed=range(1,4)"])
    assert (base, planned) == (["split.seed=1"], 3)
    assert probes == [["split.seed=2"], ["split.seed=3"]]
    base, probes, planned = _probe_overrides(["evaluation.threshold=interval(0.3,0.6)"])
    assert planned is None  # Optuna decides how many trials
    assert base == ["evaluation.threshold=0.3"] and probes == [["evaluation.threshold=0.6"]]


def test_long_sweeps_are_probed_at_an_even_spread_including_the_last_value() -> None:
    base, probes, planned = _probe_overrides(["split.seed=range(0,100)"])
    assert planned == 100 and len(probes) == 12
    assert probes[-1] == ["split.seed=99"]


def test_prefixes_are_kept_and_keys_found() -> None:
    base, _, _ = _probe_overrides(["++tuning.n_iter=2,3"])
    assert base == ["++tuning.n_iter=2"]
    assert _swept_keys(["++tuning.n_iter=2,3", "models=fast", "seed=range(1,3)"]) == [
        "tuning.n_iter",
        "seed",
    ]


def test_hydra_overrides_are_told_apart() -> None:
    assert _is_hydra_override("hydra/launcher=joblib")
    assert _is_hydra_override("hydra.sweeper.n_trials=3")
    assert _is_hydra_override("+hydra.job.env_set.X=1")
    assert not _is_hydra_override("hydrate=1")
    assert not _is_hydra_override("models=fast")


def setup(sweeper="basic", launcher="basic", jobs=None, direction=None) -> HydraSetup:
    return HydraSetup(sweeper, launcher, jobs, None, direction)


def test_mlctl_quiets_hydra_logging_unless_asked() -> None:
    extra = _extra_overrides([], setup(), True, 4)
    assert "hydra/job_logging=disabled" in extra and "hydra/hydra_logging=disabled" in extra
    extra = _extra_overrides(["hydra/job_logging=default"], setup(), True, 4)
    assert "hydra/job_logging=disabled" not in extra


def test_optuna_direction_follows_the_metric() -> None:
    assert "hydra.sweeper.direction=maximize" in _extra_overrides(
        [], setup("optuna", direction="minimize"), True, 3
    )
    assert "hydra.sweeper.direction=minimize" in _extra_overrides(
        [], setup("optuna", direction="minimize"), False, 3
    )
    given = ["hydra.sweeper.direction=maximize"]
    extra = _extra_overrides(given, setup("optuna", direction="maximize"), True, 3)
    assert not any(o.startswith("hydra.sweeper.direction") for o in extra)
    with pytest.raises(UsageError, match="contradicts"):
        _extra_overrides(given, setup("optuna", direction="maximize"), False, 3)


def test_joblib_jobs_share_the_cores(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    s = setup(launcher="joblib", jobs=10)  # the plugin's default n_jobs
    extra = _extra_overrides([], s, True, 6)
    assert "hydra.launcher.n_jobs=6" in extra  # never more workers than jobs or cores
    assert _inner_jobs(s, extra, 6) == 1  # 8 cores // 6 jobs
    extra = _extra_overrides([], s, True, 2)
    assert _inner_jobs(s, extra, 2) == 4
    given = ["hydra.launcher.n_jobs=1"]
    extra = _extra_overrides(given, setup(launcher="joblib", jobs=1), True, 6)
    assert not any(o.startswith("hydra.launcher.n_jobs") for o in extra)
    assert _inner_jobs(setup(launcher="joblib", jobs=1), extra, 6) == 8
    assert _inner_jobs(setup(), [], 6) is None  # the basic launcher runs one job at a time


def test_rank_best_first_failed_last() -> None:
    records = [rec(0, cv=0.7), rec(1, "failed"), rec(2, "not_ready", 0.9), rec(3, cv=0.8)]
    assert [r.job for r in rank(records)] == [2, 3, 0, 1]
    assert best_passing(rank(records)).job == 3
    low = [rec(0, cv=0.3, greater=False), rec(1, cv=0.2, greater=False)]
    assert [r.job for r in rank(low)] == [1, 0]
    assert best_passing(rank([rec(0, "not_ready"), rec(1, "failed")])) is None
    assert rank([]) == []


def test_ties_keep_job_order() -> None:
    assert [r.job for r in rank([rec(2), rec(0), rec(1)])] == [0, 1, 2]


def test_job_result_is_a_float_that_carries_its_record_through_pickle() -> None:
    result = JobResult(rec(4, cv=0.75))
    assert float(result) == 0.75 and result + 0 == 0.75
    back = pickle.loads(pickle.dumps(result))
    assert isinstance(back, JobResult) and float(back) == 0.75
    assert JobRecord.from_dict(back.record) == rec(4, cv=0.75)
    assert math.isnan(JobResult(rec(5, "failed")))


def test_records_come_back_from_launcher_returns_when_folders_are_not_shared() -> None:
    done = JobReturn(status=JobStatus.COMPLETED, _return_value=JobResult(rec(1, cv=0.6)))
    crashed = JobReturn(status=JobStatus.FAILED, _return_value=RuntimeError("lost"))
    returned = _returned_records([[done, crashed]])
    assert [r.job for r in returned] == [1]
    merged = merge_records([rec(0), rec(1, cv=0.9)], returned)
    assert [(r.job, r.cv_mean) for r in merged] == [(0, 0.8), (1, 0.9)]  # files win
    assert _returned_records(None) == []
