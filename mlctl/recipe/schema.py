"""The typed schema of a recipe.

Every field carries its user-facing description once; ``docs/recipes.md`` is
generated from these classes (``python -m mlctl.devtools.recipe_docs``). Unknown keys are
refused (``extra="forbid"``) and types are strict, so YAML 1.1 traps such as an
unquoted ``NO`` or ``1.10`` are caught rather than silently coerced.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_EPOCH = datetime(2000, 1, 1)

Task = Literal["classification", "regression"]
ColumnType = Literal["float", "int", "str", "category", "bool", "datetime"]
ParamValue = Any


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=False)


class ColumnExpectation(_Strict):
    """What a column of the raw data must look like (checked before training)."""

    type: ColumnType | None = Field(
        None, description="Expected type after coercion: float, int, str, category, bool, datetime."
    )
    allowed: list[str | int | float | bool] | None = Field(
        None, description="Allowed values (categorical columns). Other values are an error."
    )
    min: float | None = Field(None, description="Smallest allowed value (numeric columns).")
    max: float | None = Field(None, description="Largest allowed value (numeric columns).")
    max_missing: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        1.0, description="Largest allowed share of missing values, 0 to 1."
    )
    unique: bool = Field(False, description="Values must be unique (e.g. an id column).")


class Expectations(_Strict):
    """Checks on the raw table; all failures are reported together."""

    min_rows: Annotated[int, Field(ge=1)] = Field(
        10, description="Fewest rows the data may have (after dropping rows with no target)."
    )
    columns: dict[str, ColumnExpectation] = Field(
        default_factory=dict, description="Per-column expectations, by column name."
    )


class Split(_Strict):
    """How the data is split into a training and a held-out test set."""

    strategy: Literal["random", "stratified", "time"] = Field(
        "stratified",
        description="random, stratified (on the target; classification only) or time "
        "(the latest rows by `time_column` become the test set).",
    )
    test_size: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.2, description="Share of rows held out for the test set, strictly between 0 and 1."
    )
    seed: int = Field(42, description="Random seed of the split.")
    time_column: str | None = Field(
        None, description="Column ordering rows in time; required when strategy is time."
    )


class Data(_Strict):
    """Where the data is and what it must look like."""

    source: str = Field(
        description="CSV or Parquet file, or a glob of them. Relative paths resolve against "
        "the recipe file's folder."
    )
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="File format; auto picks it from the file extension."
    )
    csv_separator: str = Field(",", description="Field separator of CSV files.")
    target: str = Field(description="Column to predict.")
    positive_class: str | int | bool | None = Field(
        None,
        description="Label of the positive class (binary classification); defaults to the "
        "last label in text sort order (e.g. 'Yes' of No/Yes, 1 of 0/1).",
    )
    id_column: str | None = Field(
        None, description="Row identifier: kept out of the features, checked for uniqueness."
    )
    drop: list[str] = Field(
        default_factory=list,
        description="Columns removed right after reading, before any check (e.g. leaky or "
        "personal columns); they may not be used anywhere else in the recipe.",
    )
    coerce: dict[str, ColumnType] = Field(
        default_factory=dict,
        description="Column type coercions applied on load and inside the model pipeline, "
        "e.g. `TotalCharges: float` turns blank strings into missing values.",
    )
    expectations: Expectations = Field(
        default_factory=Expectations, description="Checks on the raw data."
    )


class NumericTransform(_Strict):
    """Transforms for numeric columns, fitted on the training split."""

    impute: Literal["mean", "median", "most_frequent", "zero", "none"] = Field(
        "median", description="How missing numeric values are filled."
    )
    scale: Literal["standard", "minmax", "robust", "none"] = Field(
        "standard", description="How numeric columns are scaled."
    )
    add_missing_indicator: bool = Field(
        False, description="Add a 0/1 column per numeric column that had missing values."
    )


class CategoricalTransform(_Strict):
    """Transforms for categorical columns; unknown categories never crash at predict time."""

    impute: Literal["most_frequent", "constant", "none"] = Field(
        "constant", description="How missing categories are filled (constant: '__missing__')."
    )
    encode: Literal["onehot", "ordinal"] = Field(
        "onehot",
        description="onehot (unknown categories become all zeros) or ordinal (unknown → -1).",
    )
    min_frequency: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Categories seen fewer times are grouped as infrequent (onehot)."
    )


class DerivedFeature(_Strict):
    """A feature computed from other columns with a small, safe expression."""

    name: str = Field(description="Name of the new column.")
    expr: str = Field(
        description="Expression over columns: arithmetic, comparisons, and/or/not, log, log1p, "
        "exp, sqrt, abs, clip, round, isnull, fillna, where, and fit-time statistics "
        "median(col), mean(col), std(col), min(col), max(col), quantile(col, q)."
    )


class Features(_Strict):
    """Which columns feed the model and how they are transformed."""

    numeric: list[str] = Field(default_factory=list, description="Numeric input columns.")
    categorical: list[str] = Field(default_factory=list, description="Categorical input columns.")
    derived: list[DerivedFeature] = Field(
        default_factory=list,
        description="Derived numeric features (added to the numeric columns).",
    )
    numeric_transform: NumericTransform = Field(default_factory=NumericTransform, description="")
    categorical_transform: CategoricalTransform = Field(
        default_factory=CategoricalTransform, description=""
    )


class Distribution(_Strict):
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


class Candidate(_Strict):
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


class Models(_Strict):
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


class Tuning(_Strict):
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

    @field_validator("n_jobs")
    @classmethod
    def _n_jobs_not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("0 jobs cannot run anything; use 1 or more, or -1 for every core")
        return value


class Readiness(_Strict):
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


class Evaluation(_Strict):
    """Evaluation of the winner on the held-out test set."""

    threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.5, description="Decision threshold on the positive-class probability (binary)."
    )
    importance_repeats: Annotated[int, Field(ge=0)] = Field(
        5, description="Permutation-importance repeats; 0 disables it."
    )
    importance_max_rows: Annotated[int, Field(ge=10)] = Field(
        2000, description="Rows sampled from the test set for permutation importance."
    )


class Tracking(_Strict):
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


class ServeLog(_Strict):
    """Where `mlctl serve` logs every prediction (docs/serving.md#the-prediction-log)."""

    url: str | None = Field(
        None,
        description="`sqlite:///PATH` or `postgresql://user@host/db`; default "
        "`predictions.db` (SQLite) in the workspace. `${oc.env:NAME}` keeps secrets out.",
    )
    max_rows_per_commit: Annotated[int, Field(ge=1, le=100_000)] = Field(
        2000, description="Most rows one group commit writes."
    )


class ServeCache(_Strict):
    """Prediction cache keyed by the row's content and the model version."""

    backend: Literal["none", "memory", "redis"] = Field(
        "none", description="none, memory (per worker, LRU) or redis (shared)."
    )
    size: Annotated[int, Field(ge=1)] = Field(
        100_000, description="memory: most rows kept per worker (least recently used go)."
    )
    url: str | None = Field(None, description="redis: `redis://host:port/db`.")
    ttl_seconds: Annotated[int, Field(ge=1)] = Field(
        3600, description="redis: how long a cached prediction lives."
    )


class ServeTraffic(_Strict):
    """Champion / challenger: a traffic split or a silent shadow."""

    challenger_percent: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        0.0, description="Share of requests the challenger answers, 0 to 100."
    )
    sticky_key: str | None = Field(
        None,
        description="Input column (e.g. the id column) whose value pins a caller to one model; "
        "default: random per request.",
    )
    shadow: bool = Field(
        False,
        description="The challenger also scores every request silently; both are logged, "
        "the champion answers.",
    )


class Serve(_Strict):
    """`mlctl serve` settings (docs/serving.md)."""

    host: str = Field("127.0.0.1", description="Address to bind; 0.0.0.0 exposes the service.")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(8000, description="TCP port.")
    workers: Annotated[int, Field(ge=1, le=64)] = Field(
        1, description="Server processes (each pinned to one math-library thread)."
    )
    alias: str = Field("champion", description="Registry alias served.")
    poll_seconds: Annotated[float, Field(ge=0)] = Field(
        30.0, description="How often to check whether the alias moved (0: never)."
    )
    api_key_env: str | None = Field(
        None,
        description="Environment variable holding the API key; when set, predict, feedback "
        "and admin routes need `Authorization: Bearer KEY` or `X-API-Key`.",
    )
    admin: bool = Field(False, description="Enable admin routes (POST /admin/reload).")
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        1_048_576, description="Largest request body; larger gets 413."
    )
    max_batch_rows: Annotated[int, Field(ge=1)] = Field(
        1000, description="Most rows in one request; more gets 413."
    )
    request_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        10.0, description="A request still waiting after this gets 503."
    )
    drain_seconds: Annotated[float, Field(ge=0)] = Field(
        10.0, description="On SIGTERM, how long in-flight requests may take to finish."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS; empty: CORS off."
    )
    batch_max_rows: Annotated[int, Field(ge=1)] = Field(
        256, description="Most rows scored in one pipeline call (micro-batching)."
    )
    batch_wait_ms: Annotated[float, Field(ge=0, le=1000)] = Field(
        0.0, description="How long an idle server waits for more requests to batch."
    )
    log: ServeLog = Field(default_factory=ServeLog, description="The prediction log.")
    cache: ServeCache = Field(default_factory=ServeCache, description="Prediction cache.")
    traffic: ServeTraffic = Field(
        default_factory=ServeTraffic, description="Champion / challenger split and shadow."
    )


#: One path component of a Docker image reference (lower case, '.', '_', '__', '-').
IMAGE_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"


class DeployImage(_Strict):
    """The container image `mlctl deploy` describes (docs/deployment.md#the-image)."""

    name: str | None = Field(
        None,
        description="Image repository name: lower-case letters, digits, `.`, `_`, `-` and "
        "`/`; default the model name in lower case.",
    )
    registry: str | None = Field(
        None,
        description="Registry and namespace the image is pushed to, e.g. `ghcr.io/acme`; "
        "none: a local image.",
    )
    base: str = Field(
        "python:3.11-slim", description="Base image: a slim Python of a supported version."
    )
    mlctl_requirement: str = Field(
        ".",
        description="What `pip install` installs mlctl from inside the image: `.` (the build "
        "context is an mlctl checkout, with its pyproject.toml), or a pip requirement such "
        "as `mlctl @ git+https://github.com/acme/mlctl@v0.1.0` or a wheel in the context.",
    )

    @field_validator("name")
    @classmethod
    def _image_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(rf"{IMAGE_PART}(?:/{IMAGE_PART})*", value):
            raise ValueError(
                f"{value!r} is not an image name: use lower-case letters and digits, "
                "separated by '.', '_', '-' or '/' (e.g. acme/churn-api)"
            )
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        """A registry host (with a `.`, a port or `localhost`) and/or lower-case
        namespaces, as in Docker's image references: `ghcr.io/acme`, `localhost:5000`."""
        if value is None:
            return None
        label = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
        host = rf"{label}(?:\.{label})*(?::[0-9]+)?"
        first, _, rest = value.removesuffix("/").partition("/")
        is_host = "." in first or ":" in first or first == "localhost"
        ok = re.fullmatch(host if is_host else IMAGE_PART, first) and all(
            re.fullmatch(IMAGE_PART, p) for p in (rest.split("/") if rest else [])
        )
        if not ok:
            raise ValueError(
                f"{value!r} is not an image registry: a host (with a '.' or a port) and/or "
                "lower-case namespaces, without a scheme (e.g. ghcr.io/acme, localhost:5000)"
            )
        return value.removesuffix("/")


class DeployDocker(_Strict):
    """`mlctl deploy --target docker`: Dockerfile and compose file."""

    restart: Literal["no", "always", "on-failure", "unless-stopped"] = Field(
        "unless-stopped", description="Restart policy of every compose service."
    )
    host_port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        None, description="Port published on the host; default `deploy.serve.port`."
    )
    postgres_image: str = Field(
        "postgres:16-alpine",
        description="Image of the PostgreSQL service (added when the prediction log is "
        "PostgreSQL).",
    )
    redis_image: str = Field(
        "redis:7-alpine", description="Image of the Redis service (added for a Redis cache)."
    )


class DeployRequests(_Strict):
    """What the scheduler reserves for each API container (Kubernetes quantities)."""

    cpu: str | None = Field("500m", description="CPU (`500m`, `2`); null: none.")
    memory: str | None = Field("1Gi", description="Memory (`512Mi`, `2Gi`); null: none.")


class DeployLimits(_Strict):
    """Hard caps of each API container (Kubernetes quantities)."""

    cpu: str | None = Field(
        None, description="CPU cap; default none, since CPU throttling hurts latency."
    )
    memory: str | None = Field("2Gi", description="Memory cap; null: none.")


class DeployK8sResources(_Strict):
    """Requests and limits of the API container."""

    requests: DeployRequests = Field(default_factory=DeployRequests, description="Requests.")
    limits: DeployLimits = Field(default_factory=DeployLimits, description="Limits.")


#: A DNS-1123 label: what Kubernetes accepts as a namespace, or between the dots of a name.
K8S_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"


class DeployK8s(_Strict):
    """`mlctl deploy --target k8s`: Deployment, Service, CronJob, ConfigMap."""

    namespace: str = Field("default", description="Namespace of every object.")
    replicas: Annotated[int, Field(ge=1, le=1000)] = Field(2, description="API pods.")
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        "ClusterIP", description="Type of the Service in front of the API pods."
    )
    resources: DeployK8sResources = Field(
        default_factory=DeployK8sResources, description="API container resources."
    )
    secret: str | None = Field(
        None,
        description="Secret holding the API key (key `api-key`) and the other secrets "
        "(docs/deployment.md#secrets); default `<image name>-secrets`.",
    )
    workspace_claim: str | None = Field(
        None,
        description="PersistentVolumeClaim mounted as the workspace (registry, SQLite "
        "prediction log); none: the image's workspace (`--bake`) or an emptyDir.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Image pull policy of every container."
    )

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if len(value) > 63 or not re.fullmatch(K8S_LABEL, value):
            raise ValueError(
                f"{value!r} is not a Kubernetes namespace: at most 63 lower-case letters, "
                "digits and '-', starting and ending with a letter or digit"
            )
        return value

    @field_validator("secret", "workspace_claim")
    @classmethod
    def _object_name(cls, value: str | None) -> str | None:
        if value is not None and (
            len(value) > 253 or not re.fullmatch(rf"{K8S_LABEL}(\.{K8S_LABEL})*", value)
        ):
            raise ValueError(
                f"{value!r} is not a Kubernetes object name: lower-case letters, digits, "
                "'-' and '.', starting and ending with a letter or digit"
            )
        return value


class DeployGithubActions(_Strict):
    """`mlctl deploy --target github-actions`: a CI workflow."""

    python: str = Field("3.11", description="Python version of the job.")
    run_overrides: list[str] = Field(
        default_factory=list,
        description="Overrides passed to `mlctl validate` and `mlctl run` in CI, e.g. "
        "`[models=fast]`.",
    )
    timeout_minutes: Annotated[int, Field(ge=1, le=360)] = Field(60, description="Job timeout.")


class Deploy(_Strict):
    """Registration, promotion, serving and deployment files."""

    model_name: str | None = Field(None, description="Registered model name; default `name`.")
    auto_promote: bool = Field(
        False, description="Promote to champion when the gate passes, without --promote."
    )
    serve: Serve = Field(default_factory=Serve, description="`mlctl serve` settings.")
    image: DeployImage = Field(
        default_factory=DeployImage, description="Container image of `mlctl deploy`."
    )
    docker: DeployDocker = Field(
        default_factory=DeployDocker, description="`mlctl deploy --target docker`."
    )
    k8s: DeployK8s = Field(default_factory=DeployK8s, description="`mlctl deploy --target k8s`.")
    github_actions: DeployGithubActions = Field(
        default_factory=DeployGithubActions,
        description="`mlctl deploy --target github-actions`.",
    )


class Compute(_Strict):
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


DriftMethod = Literal[
    "auto", "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "kl_div"
]
CategoryMethod = Literal["auto", "chisquare", "z", "jensenshannon", "psi", "kl_div"]


class DriftTest(_Strict):
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


class MonitorMinRows(_Strict):
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


class MonitorDrift(_Strict):
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


class MonitorPredictionDrift(_Strict):
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


class MonitorPerformance(_Strict):
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


class MonitorVolume(_Strict):
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


class MonitorAlerts(_Strict):
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


class Monitor(_Strict):
    """`mlctl monitor`: drift, performance and volume of the served model (docs/monitoring.md)."""

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


class Recipe(_Strict):
    """A complete, composed recipe."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")] = Field(
        description="Recipe and default model name: letters, digits, '_', '.', '-'."
    )
    task: Task = Field("classification", description="classification or regression.")
    seed: int = Field(42, description="Global random seed (estimators, search, importance).")
    data: Data = Field(description="Data source and expectations.")
    split: Split = Field(default_factory=Split, description="Train/test split.")
    features: Features = Field(default_factory=Features, description="Input features.")
    models: Models = Field(default_factory=Models, description="Candidate models.")
    tuning: Tuning = Field(default_factory=Tuning, description="Hyperparameter search.")
    compute: Compute = Field(
        default_factory=Compute, description="Where CV and search run (local or Dask)."
    )
    readiness: Readiness = Field(default_factory=Readiness, description="Readiness gate.")
    evaluation: Evaluation = Field(default_factory=Evaluation, description="Evaluation.")
    tracking: Tracking = Field(default_factory=Tracking, description="Tracking and registry.")
    deploy: Deploy = Field(
        default_factory=Deploy, description="Registration, promotion and serving."
    )
    monitor: Monitor = Field(
        default_factory=Monitor, description="Production monitoring (mlctl monitor)."
    )

    @property
    def model_name(self) -> str:
        return self.deploy.model_name or self.name

    @property
    def selection_metric(self) -> str:
        if self.models.selection_metric:
            return self.models.selection_metric
        return "roc_auc" if self.task == "classification" else "rmse"
