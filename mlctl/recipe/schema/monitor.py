"""The recipe's ``monitor`` section: drift, prediction drift, performance, volume,
alerts, schedule and retraining of `mlctl monitor`."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator

from mlctl.recipe.schema.base import Strict

_EPOCH = datetime(2000, 1, 1)


DriftMethod = Literal[
    "auto", "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "kl_div"
]
CategoryMethod = Literal["auto", "chisquare", "z", "jensenshannon", "psi", "kl_div"]

#: The drift tests that are hypothesis tests: a column drifts when the p-value is below
#: the threshold (ks: at or below). The others are distances, drifting at or above it.
#: One home: the recipe's checks and :mod:`mlctl.monitor` use these.
P_VALUE_TESTS = frozenset({"ks", "chisquare", "z"})
#: The drift tests of numbers only, which a categorical column cannot use.
NUMERIC_ONLY_TESTS = frozenset({"ks", "wasserstein"})


class DriftTest(Strict):
    """A drift test and its threshold (docs/monitoring.md)."""

    method: DriftMethod = Field(
        "auto",
        description="auto (Evidently's default choice by reference size and distinct values), "
        "ks, chisquare, z (p-value tests), wasserstein, jensenshannon, psi or kl_div "
        "(distances). ks and wasserstein test numbers only.",
    )
    threshold: Annotated[float, Field(ge=0.0)] | None = Field(
        None,
        description="p-value below which (ks: at or below) a p-value test drifts, or "
        "distance at or above which a distance drifts; null: the method's default "
        "(0.05 for p-values, 0.1 for distances).",
    )


class CategoryDriftTest(DriftTest):
    """A drift test of categorical columns and its threshold."""

    method: CategoryMethod = Field(
        "auto",
        description="auto, chisquare, z, jensenshannon, psi or kl_div (ks and wasserstein "
        "test numbers only).",
    )


class MonitorMinRows(Strict):
    """Fewest current values a column needs to be tested, per test family."""

    p_value: Annotated[int, Field(ge=0)] = Field(
        30,
        description="For ks, chisquare and z (and auto when it picks them): below ~30 values "
        "a p-value test has almost no power. Fewer: `not_enough_data`, never drift.",
    )
    distance: Annotated[int, Field(ge=0)] = Field(
        300,
        description="For wasserstein, jensenshannon, psi and kl_div: a distance has no "
        "sample-size correction, and on fewer rows undrifted data crosses 0.1 by chance. "
        "Fewer: `not_enough_data`, never drift.",
    )


class MonitorDrift(Strict):
    """Data drift of the model's input columns against the training split's profile."""

    numeric: DriftTest = Field(default_factory=DriftTest, description="Test of numeric columns.")
    categorical: CategoryDriftTest = Field(
        default_factory=CategoryDriftTest, description="Test of categorical columns."
    )
    columns: dict[str, DriftTest] = Field(
        default_factory=dict,
        description="Per-column test, winning over the kind's; keys are input columns "
        "(`method: auto` or `threshold: null` keep the kind's choice).",
    )
    drift_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.5,
        description="The dataset drifts (attention) when at least this share of the tested "
        "columns drift.",
    )
    bins: Annotated[int, Field(ge=2, le=1000)] | Literal["sturges"] = Field(
        30,
        description="Equal-width bins of numeric columns for jensenshannon, psi and kl_div, "
        "or `sturges`.",
    )
    min_rows: MonitorMinRows = Field(
        default_factory=MonitorMinRows,
        description="Fewest current values a column (and the score and prediction) needs "
        "to be tested; 0 turns the minimum off (docs/monitoring.md#too-little-data).",
    )


class MonitorPredictionDrift(Strict):
    """Drift of the model's outputs against its outputs on the test split at training."""

    enabled: bool = Field(True, description="Test the scores and predicted classes.")
    score: DriftTest = Field(
        default_factory=DriftTest,
        description="Test of the score (positive-class probability, or the predicted value "
        "of a regressor).",
    )
    prediction: CategoryDriftTest = Field(
        default_factory=CategoryDriftTest,
        description="Test of the predicted classes (classification).",
    )


class MonitorPerformance(Strict):
    """Metrics on production rows whose ground truth came back (POST /feedback)."""

    metrics: list[str] | None = Field(
        None,
        description="Metrics computed on labelled production rows and compared with their "
        "test value at training; default: the selection metric plus the metrics named in "
        "readiness.thresholds.",
    )
    max_drop: Annotated[float, Field(ge=0.0)] | dict[str, Annotated[float, Field(ge=0.0)]] = Field(
        0.05,
        description="Largest allowed drop from the training value, in the metric's own "
        "units and its better direction: one number for every metric, or per metric "
        "(metrics left out are reported, never flagged).",
    )
    min_labels: Annotated[int, Field(ge=1)] = Field(
        100,
        description="Fewer labelled rows: `not_enough_labels`, reported but no verdict.",
    )
    check_thresholds: bool = Field(
        True, description="Also check readiness.thresholds on the production values."
    )


class MonitorVolume(Strict):
    """Predictions per hour recently against the hours just before."""

    enabled: bool = Field(True, description="Check the volume (prediction log only).")
    recent_hours: Annotated[int, Field(ge=1, le=8760)] = Field(
        6, description="Whole hours, ending before the window's end, judged."
    )
    baseline_hours: Annotated[int, Field(ge=1, le=8760)] = Field(
        168, description="Whole hours just before them that set the usual rate."
    )
    max_drop_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.5, description="Attention when the recent rate is lower by more than this share."
    )
    max_spike_factor: Annotated[float, Field(gt=1.0)] = Field(
        3.0, description="Attention when the recent rate is more than this many times usual."
    )
    min_baseline_hours: Annotated[int, Field(ge=0)] = Field(
        24,
        description="Fewer baseline hours with history: `not_enough_history` (no verdict).",
    )


class MonitorAlerts(Strict):
    """Who is told, and when (docs/monitoring.md#alerts)."""

    webhook: str | None = Field(
        None,
        description="URL that gets a JSON POST (status, reasons, model, window, report). "
        "`${oc.env:NAME}` keeps a secret URL out of the recipe.",
    )
    command: list[str] | str | None = Field(
        None,
        description="Command run with MLCTL_MONITOR_RESULT (path of the JSON result) and "
        "MLCTL_MONITOR_STATUS set: a list of arguments (no shell), or one string split "
        "like a shell would (no shell features).",
    )
    timeout_seconds: Annotated[float, Field(gt=0.0, le=600.0)] = Field(
        10.0, description="Longest a webhook call or the command may take."
    )
    when: Literal["attention", "always"] = Field(
        "attention",
        description="attention (default: only when a run needs attention) or always (every "
        "run, e.g. a heartbeat).",
    )


class Monitor(Strict):
    """`mlctl monitor`: drift, performance and volume of the served model (docs/monitoring.md)."""

    engine: Literal["local", "dask"] = Field(
        "local",
        description="Where a `--current` Parquet file is summed up: local (this process, in "
        "chunks) or dask (partitions of row groups on the cluster of the `compute` section: "
        "its `address`, or a LocalCluster on 127.0.0.1; the same result).",
    )
    window: str = Field(
        "24h",
        description="How far back a run looks: a whole number and m, h, d or w (`24h`, `7d`); "
        "--window overrides it.",
    )
    drift: MonitorDrift = Field(default_factory=MonitorDrift, description="Data drift.")
    prediction_drift: MonitorPredictionDrift = Field(
        default_factory=MonitorPredictionDrift, description="Prediction drift."
    )
    performance: MonitorPerformance = Field(
        default_factory=MonitorPerformance, description="Performance on delayed labels."
    )
    volume: MonitorVolume = Field(default_factory=MonitorVolume, description="Traffic volume.")
    alerts: MonitorAlerts = Field(default_factory=MonitorAlerts, description="Alert hooks.")
    schedule: str = Field(
        "0 * * * *",
        description="When deployed monitoring runs (`mlctl deploy`: the compose monitor "
        "service and the Kubernetes CronJob): a 5-field cron expression in UTC, "
        "e.g. `*/30 * * * *`.",
    )
    retrain: Literal["never", "on_drift", "on_performance_drop", "on_attention"] = Field(
        "never",
        description="When a run retrains: never (only with --retrain), on_drift (dataset or "
        "prediction drift), on_performance_drop, or on_attention (any reason). A retrained "
        "model is promoted only if it passes the gate and beats the champion on the "
        "window's labelled rows.",
    )

    @field_validator("window")
    @classmethod
    def _window_is_a_duration(cls, value: str) -> str:
        match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", value)
        if not match:
            raise ValueError(
                "must be a whole number followed by one unit, m (minutes), h (hours), "
                "d (days) or w (weeks), e.g. 24h or 7d"
            )
        if int(match[1]) == 0:
            raise ValueError(f"is empty: give at least 1{match[2]}")
        return value.replace(" ", "")

    @field_validator("schedule")
    @classmethod
    def _schedule_is_cron(cls, value: str) -> str:
        from cronsim import CronSim, CronSimError

        fields = value.split()
        if len(fields) != 5:
            raise ValueError(
                f"must be a cron expression of 5 fields (minute hour day month weekday), "
                f"e.g. '0 * * * *'; got {len(fields)} field(s)"
            )
        if any(c in value for c in "LW#"):
            raise ValueError("L, W and # are not understood by Kubernetes CronJobs; drop them")
        try:
            CronSim(value, _EPOCH)
        except CronSimError as exc:
            raise ValueError(f"is not a valid cron expression: {exc}") from None
        return " ".join(fields)
