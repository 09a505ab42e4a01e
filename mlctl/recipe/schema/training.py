"""The recipe's training sections: ``models`` (candidates and their tuning spaces),
``tuning``, ``readiness``, ``evaluation``, ``tracking`` and ``compute``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from mlctl.recipe.schema.base import ParamValue, Strict


class Distribution(Strict):
    """A search distribution for one hyperparameter (random search and Optuna)."""

    distribution: Literal["float", "int", "uniform", "loguniform", "randint"] = Field(
        description="float (with `log` for a log scale) or int, in [low, high]; uniform, "
        "loguniform and randint are the same as float, float with log: true, and int."
    )
    low: float = Field(description="Lower bound.")
    high: float = Field(description="Upper bound.")
    log: bool = Field(False, description="Sample on a log scale (needs low > 0).")

    @property
    def is_int(self) -> bool:
        return self.distribution in ("int", "randint")

    @property
    def is_log(self) -> bool:
        return self.log or self.distribution == "loguniform"


class Candidate(Strict):
    """One candidate model: an estimator, fixed params and a tuning space."""

    estimator: str | None = Field(
        None, description="Short name from the catalog (see docs/recipes.md#estimators)."
    )
    target_: str | None = Field(
        None,
        alias="_target_",
        description="Full class path instead of `estimator`; only under allowed prefixes.",
    )
    params: dict[str, ParamValue] = Field(
        default_factory=dict, description="Fixed estimator parameters."
    )
    search: dict[str, list[ParamValue] | Distribution] = Field(
        default_factory=dict,
        description="Tuning space: a list of values, or a distribution (random search).",
    )
    enabled: bool = Field(True, description="Set false to skip this candidate.")

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


#: The leaderboard name of the ensemble of the top candidates (models.ensemble).
ENSEMBLE = "ensemble"


class Ensemble(Strict):
    """An ensemble of the best candidates, cross-validated like one more candidate."""

    method: Literal["voting", "stacking"] = Field(
        "voting",
        description="voting (averages the members' probabilities or predictions) or stacking "
        "(a linear model learns how to combine them, on inner cross-validation; slower).",
    )
    top: Annotated[int, Field(ge=2, le=10)] = Field(
        3, description="How many of the best candidates (by cross-validation) it combines."
    )


class Models(Strict):
    """Candidate models and how the winner is chosen."""

    selection_metric: str | None = Field(
        None,
        description="Metric that ranks candidates in cross-validation; defaults to roc_auc "
        "(classification) or rmse (regression).",
    )
    cv_folds: Annotated[int, Field(ge=2, le=50)] = Field(5, description="Cross-validation folds.")
    candidates: dict[str, Candidate] = Field(
        default_factory=dict, description="Named candidates (at least one)."
    )
    allowed_prefixes: list[str] = Field(
        default_factory=list,
        description="Module prefixes this recipe's `_target_` classes need besides sklearn. "
        "and mlctl.: a request only; each must be trusted by the user (`--trust-prefix`, "
        "`MLCTL_TRUSTED_PREFIXES`), else the recipe is refused.",
    )
    ensemble: Ensemble | None = Field(
        None,
        description="Also try an ensemble of the `top` candidates with their tuned settings, "
        "on the same preprocessing, e.g. {method: voting, top: 3}; it is ranked like any "
        "candidate, so it wins only when its cross-validation is better (docs/tuning.md).",
    )

    @model_validator(mode="after")
    def _ensemble_name_free(self) -> Models:
        if self.ensemble is not None and ENSEMBLE in self.candidates:
            raise ValueError(
                f"a candidate is named '{ENSEMBLE}', the name models.ensemble uses on the "
                "leaderboard; rename the candidate"
            )
        return self


class Tuning(Strict):
    """How each candidate's tuning space is searched."""

    strategy: Literal["grid", "random", "optuna", "none"] = Field(
        "random",
        description="grid (every combination), random (sampled), optuna (Bayesian search "
        "with pruning) or none.",
    )
    n_trials: Annotated[int, Field(ge=1)] = Field(20, description="Optuna: trials per candidate.")
    timeout: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Optuna: seconds per candidate after which no new trial starts."
    )
    sampler_seed: int | None = Field(
        None, description="Optuna: seed of the TPE sampler; default the recipe's seed."
    )
    pruning: bool = Field(
        True,
        description="Optuna: stop unpromising trials early (median rule on the running CV "
        "mean, after each fold).",
    )
    storage: str | None = Field(
        None,
        description="Optuna: storage URL (e.g. sqlite:///optuna.db, postgresql://...) so a "
        "study can be resumed or shared; studies are named <recipe name>-<candidate>.",
    )
    n_iter: Annotated[int, Field(ge=1)] = Field(
        10, description="Budget: parameter settings tried per candidate (random search)."
    )
    max_grid: Annotated[int, Field(ge=1)] = Field(
        200, description="Largest grid allowed before the recipe is refused."
    )
    n_jobs: Annotated[int, Field(ge=-1)] = Field(
        -1, description="Parallel jobs for CV and search, 1 or more; -1 uses every core."
    )
    time_budget: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="Seconds for the whole search, all candidates together: no new setting "
        "starts after it, and the best found so far wins; default no limit.",
    )

    @field_validator("n_jobs")
    @classmethod
    def _n_jobs_not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("0 jobs cannot run anything; use 1 or more, or -1 for every core")
        return value


class Readiness(Strict):
    """The gate a model must pass to become champion."""

    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="`min_<metric>` or `max_<metric>` on the test set, e.g. min_roc_auc: 0.8.",
    )
    cv_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Like thresholds, checked on cross-validation as mean - k*std (min_) "
        "or mean + k*std (max_) of the selection metric.",
    )
    cv_std_k: Annotated[float, Field(ge=0.0)] = Field(
        1.0, description="k in the cross-validation checks."
    )
    beat_baseline_by: float | None = Field(
        0.0,
        description="Margin by which the winner must beat the dummy baseline on the selection "
        "metric (test set); null disables the check.",
    )
    compare_champion: bool = Field(
        True, description="The winner must not be worse than the current champion on this test set."
    )
    champion_tolerance: Annotated[float, Field(ge=0.0)] = Field(
        0.0, description="How much worse than the champion is still accepted."
    )


class ThresholdChoice(Strict):
    """How the binary decision threshold is chosen: on the winner's cross-validation
    out-of-fold probabilities of the training split, never on the test set."""

    optimize: Literal["f1", "youden", "cost"] = Field(
        description="f1 (best F1 of the positive class), youden (best recall + specificity "
        "- 1) or cost (lowest fp * costs.fp + fn * costs.fn)."
    )
    costs: dict[Literal["fp", "fn"], Annotated[float, Field(ge=0.0)]] | None = Field(
        None,
        description="optimize: cost only: the cost of one false positive (`fp`) and of one "
        "false negative (`fn`), in any unit, e.g. {fp: 1, fn: 5}.",
    )

    @model_validator(mode="after")
    def _costs_match(self) -> ThresholdChoice:
        if self.optimize == "cost":
            if not self.costs or set(self.costs) != {"fp", "fn"}:
                raise ValueError(
                    "optimize: cost needs costs: {fp: <cost of a false positive>, "
                    "fn: <cost of a false negative>}"
                )
            if self.costs["fp"] == 0 and self.costs["fn"] == 0:
                raise ValueError("costs fp and fn are both 0: every threshold costs the same")
        elif self.costs is not None:
            raise ValueError(
                f"costs are only read with optimize: cost (got optimize: {self.optimize})"
            )
        return self


class Evaluation(Strict):
    """Evaluation of the winner: decision threshold, calibration, segments and explanations
    (docs/evaluation.md)."""

    # A number is checked only as a number, a mapping only as a choice: one error each.
    threshold: Annotated[
        Annotated[float, Field(gt=0.0, lt=1.0), Tag("float")]
        | Annotated[ThresholdChoice, Tag("mapping")],
        Discriminator(lambda v: "mapping" if isinstance(v, dict | ThresholdChoice) else "float"),
    ] = Field(
        0.5,
        description="Binary decision threshold on the positive-class probability: a number, "
        "or {optimize: f1 | youden | cost} to choose it on out-of-fold predictions. The "
        "registered model's predicted label uses it.",
    )
    calibration: Literal["none", "auto", "sigmoid", "isotonic"] = Field(
        "none",
        description="Classification: wrap the winner in CalibratedClassifierCV inside the "
        "pipeline. sigmoid or isotonic always; auto only when its out-of-fold probabilities "
        "are miscalibrated (docs/evaluation.md#calibration).",
    )
    segments: list[str] = Field(
        default_factory=list,
        description="Input columns whose values get their own test metrics, e.g. [Contract, "
        "gender]; a segment far below the whole is flagged.",
    )
    segment_min_rows: Annotated[int, Field(ge=1)] = Field(
        30, description="Segments with fewer test rows are pooled as `(other)`."
    )
    segment_max_gap: Annotated[float, Field(ge=0.0)] = Field(
        0.05,
        description="Flag a segment whose selection metric is worse than the whole test set's "
        "by more than this.",
    )
    shap: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Global SHAP values of the winner: auto (when the optional `shap` package "
        "is installed, `pip install mlctl[explain]`), on (required) or off.",
    )
    shap_max_rows: Annotated[int, Field(ge=10)] = Field(
        500, description="Test rows sampled for SHAP values."
    )
    importance_repeats: Annotated[int, Field(ge=0)] = Field(
        5, description="Permutation-importance repeats; 0 disables it."
    )
    importance_max_rows: Annotated[int, Field(ge=10)] = Field(
        2000, description="Rows sampled from the test set for permutation importance."
    )


class Tracking(Strict):
    """Where runs and models are recorded."""

    workspace: str | None = Field(
        None,
        description="Workspace folder (SQLite tracking DB, artifacts, reports); default "
        "`.mlctl` in the current directory.",
    )
    uri: str | None = Field(
        None,
        description="MLflow tracking URI; default sqlite in the workspace. MLCTL_TRACKING_URI "
        "or MLFLOW_TRACKING_URI override it.",
    )
    experiment: str | None = Field(None, description="Experiment name; default the recipe name.")


class Compute(Strict):
    """Where cross-validation and search run: this machine, or a Dask cluster (docs/dask.md)."""

    backend: Literal["local", "dask"] = Field(
        "local",
        description="local (worker processes on this machine) or dask (the Dask cluster at "
        "`address`, else a LocalCluster on 127.0.0.1 that mlctl starts and stops).",
    )
    address: str | None = Field(
        None,
        description="Scheduler of a running Dask cluster, `tcp://host:port` (or `tls://`); "
        "default: mlctl starts a LocalCluster.",
    )
    n_workers: Annotated[int, Field(ge=1)] | None = Field(
        None,
        description="LocalCluster only: worker processes; default one per core divided by "
        "`threads_per_worker`.",
    )
    threads_per_worker: Annotated[int, Field(ge=1)] | None = Field(
        None, description="LocalCluster only: threads per worker process; default 1."
    )
    connect_timeout: Annotated[float, Field(gt=0)] = Field(
        10.0,
        description="Seconds to wait for the scheduler at `address` before failing "
        "(a LocalCluster gets at least 60 s to start).",
    )
