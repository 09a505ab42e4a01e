"""The reference profile: a compact, exact-where-it-matters summary of the training data.

``mlctl run`` builds one from the training split (and the model's scores on the test
split) and logs it with the run as ``monitoring/reference_profile.json``. Drift tests
(:mod:`mlctl.monitor.drift`) compare current data with it, so a deployed model can be
monitored without keeping or re-reading its training data.

What a column keeps (``n`` = its non-missing values):

* numeric: count, missing (NaN, blank, ±inf), invalid (text that is not a number),
  mean, population std (ddof=0, as Evidently norms Wasserstein), min, max and the exact
  number of distinct values. With at most ``exact_values`` (1,000) distinct values, the
  exact distribution (``values`` and ``counts``): every statistic computed from it is
  exact, and so is every small-sample test (a split of ≤ 1,000 values always has
  ≤ 1,000 distinct ones, so its raw values are kept as a multiset). With more, a
  sketch: ``quantiles`` at 1,001 evenly spaced levels (linear interpolation), which
  approximates the CDF well enough for Wasserstein distances and for binning at any
  edges (see :mod:`mlctl.monitor.drift` for the measured error).
* categorical: count, missing, the number of categories and their counts, the 1,000
  most frequent kept by name and the rest summed into ``other_count``.

The model's scores (a numeric column) and predicted classes (a categorical column) come
from the held-out test split (``"scores_from": "test"``): the training split's scores
would be optimistic.

Everything is deterministic: the same data gives byte-identical JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlctl import __version__
from mlctl.errors import ProfileError, ProfileNotFoundError
from mlctl.text import json_number

if TYPE_CHECKING:
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import Workspace

SCHEMA_VERSION = 1
PROFILE_ARTIFACT = "monitoring/reference_profile.json"
NUMERIC_TYPES = ("float", "int", "bool")  # data.coerce types read as numbers
CATEGORICAL_TYPES = ("category", "str")  # ... and as categories


@dataclass(frozen=True)
class ProfileCaps:
    """Size limits of a profile.

    Attributes:
        exact_values: A numeric column with at most this many distinct values keeps its
            exact distribution, else a quantile sketch.
        quantiles: Number of evenly spaced quantile levels of the sketch (0 and 1 included).
        categories: Categories kept by name; the rest are summed into ``other_count``.
    """

    exact_values: int = 1000
    quantiles: int = 1001
    categories: int = 1000

    def __post_init__(self) -> None:
        for name in ("exact_values", "quantiles", "categories"):
            if getattr(self, name) < 2:
                raise ProfileError(
                    f"the '{name}' cap of a profile must be at least 2. "
                    f"Got {getattr(self, name)!r} instead."
                )


@dataclass
class NumericProfile:
    """One numeric column. Either ``values``/``counts`` (exact) or ``quantiles`` is set."""

    count: int  # finite values
    missing: int  # NaN, blank text or ±inf
    invalid: int  # present but not a number (e.g. "abc"), excluded like missing
    mean: float | None
    std: float | None  # population standard deviation (ddof=0)
    min: float | None
    max: float | None
    n_unique: int
    values: list[float] | None = None  # sorted distinct values, when n_unique <= cap
    counts: list[int] | None = None
    quantiles: list[float] | None = None  # at levels linspace(0, 1, len), otherwise
    coerce: str = "float"  # how raw values are read, at profiling and drift time alike

    kind = "numeric"

    @property
    def exact(self) -> bool:
        """True when the profile holds the exact distribution (every value, as a multiset)."""
        return self.values is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "coerce": self.coerce,
            "count": self.count,
            "missing": self.missing,
            "invalid": self.invalid,
            "mean": json_number(self.mean),
            "std": json_number(self.std),
            "min": json_number(self.min),
            "max": json_number(self.max),
            "n_unique": self.n_unique,
        }
        if self.values is not None:
            out["values"] = [json_number(v) for v in self.values]
            out["counts"] = list(self.counts or [])
        if self.quantiles is not None:
            out["quantiles"] = [json_number(v) for v in self.quantiles]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NumericProfile:
        return cls(
            count=int(d["count"]),
            missing=int(d["missing"]),
            invalid=int(d.get("invalid", 0)),
            mean=d["mean"],
            std=d["std"],
            min=d["min"],
            max=d["max"],
            n_unique=int(d["n_unique"]),
            values=d.get("values"),
            counts=d.get("counts"),
            quantiles=d.get("quantiles"),
            coerce=d.get("coerce", "float"),
        )


@dataclass
class CategoricalProfile:
    """One categorical column: category counts, most frequent first (ties by name)."""

    count: int  # non-missing values
    missing: int
    n_unique: int
    categories: dict[str, int]  # at most ``caps.categories`` of them
    other_count: int = 0  # values of the categories left out of ``categories``
    coerce: str = "category"

    kind = "categorical"

    @property
    def exact(self) -> bool:
        return self.other_count == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "coerce": self.coerce,
            "count": self.count,
            "missing": self.missing,
            "n_unique": self.n_unique,
            "categories": dict(self.categories),
            "other_count": self.other_count,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CategoricalProfile:
        return cls(
            count=int(d["count"]),
            missing=int(d["missing"]),
            n_unique=int(d["n_unique"]),
            categories={str(k): int(v) for k, v in d["categories"].items()},
            other_count=int(d.get("other_count", 0)),
            coerce=d.get("coerce", "category"),
        )


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass
class ReferenceProfile:
    """The profile of a model's training data, and of its scores on the test split."""

    task: str
    rows: int  # rows of the training split
    columns: dict[str, ColumnProfile]  # raw model input columns, in input order
    scores: NumericProfile | None = None
    predictions: CategoricalProfile | None = None
    score_meaning: str | None = None  # e.g. "probability of class 'Yes'"
    scores_from: str = "test"
    metrics: dict[str, float] = field(default_factory=dict)
    caps: ProfileCaps = field(default_factory=ProfileCaps)
    mlctl_version: str = __version__

    @property
    def numeric(self) -> list[str]:
        return [c for c, p in self.columns.items() if p.kind == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [c for c, p in self.columns.items() if p.kind == "categorical"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "mlctl_version": self.mlctl_version,
            "task": self.task,
            "split": "train",
            "rows": self.rows,
            "caps": {
                "exact_values": self.caps.exact_values,
                "quantiles": self.caps.quantiles,
                "categories": self.caps.categories,
            },
            "columns": {name: p.to_dict() for name, p in self.columns.items()},
            "scores_from": self.scores_from,
            "score_meaning": self.score_meaning,
            "scores": self.scores.to_dict() if self.scores else None,
            "predictions": self.predictions.to_dict() if self.predictions else None,
            "metrics": {k: json_number(v) for k, v in sorted(self.metrics.items())},
        }

    def to_json(self) -> str:
        """Compact, deterministic JSON (what is logged as :data:`PROFILE_ARTIFACT`)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReferenceProfile:
        """Read :meth:`to_dict` output.

        Raises:
            ProfileError: a newer schema version, or keys missing (a damaged file).
        """
        version = d.get("schema_version") if isinstance(d, dict) else None
        if not isinstance(version, int):
            raise ProfileError("the reference profile has no 'schema_version'; it is damaged")
        if version > SCHEMA_VERSION:
            raise ProfileError(
                f"the reference profile has schema_version {version}; this mlctl reads "
                f"up to {SCHEMA_VERSION}",
                hint="upgrade mlctl",
            )
        try:
            caps = d.get("caps") or {}
            return cls(
                task=d["task"],
                rows=int(d["rows"]),
                columns={name: _column_from_dict(c) for name, c in d["columns"].items()},
                scores=NumericProfile.from_dict(d["scores"]) if d.get("scores") else None,
                predictions=(
                    CategoricalProfile.from_dict(d["predictions"]) if d.get("predictions") else None
                ),
                score_meaning=d.get("score_meaning"),
                scores_from=d.get("scores_from", "test"),
                metrics={k: v for k, v in (d.get("metrics") or {}).items() if v is not None},
                caps=ProfileCaps(**caps),
                mlctl_version=d.get("mlctl_version", "unknown"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProfileError(f"the reference profile is damaged: {exc!r}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> ReferenceProfile:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ProfileError(f"the reference profile is not valid JSON: {exc}") from None
        return cls.from_dict(data)


def _column_from_dict(d: dict[str, Any]) -> ColumnProfile:
    if d["kind"] == "numeric":
        return NumericProfile.from_dict(d)
    if d["kind"] == "categorical":
        return CategoricalProfile.from_dict(d)
    raise ValueError(f"unknown column kind {d['kind']!r}")


# ------------------------------------------------------------------- reading values


@dataclass
class NumericValues:
    """A numeric column read for profiling or drift: finite values, sorted."""

    sorted: np.ndarray
    missing: int
    invalid: int


@dataclass
class CategoryValues:
    """A categorical column read for profiling or drift: counts per category."""

    counts: dict[str, int]  # most frequent first, ties by name
    missing: int

    @property
    def count(self) -> int:
        return int(sum(self.counts.values()))


def _raw_missing(series: pd.Series) -> np.ndarray:
    """NA or blank text, before any coercion."""
    missing = series.isna().to_numpy(dtype=bool, copy=True)
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return missing
    text = series.to_numpy(dtype=object, na_value=None)
    is_str = np.fromiter((isinstance(v, str) for v in text), dtype=bool, count=len(text))
    if is_str.any():
        strings = pd.Series(text[is_str], dtype=object).str.strip()
        missing[is_str] |= (strings == "").to_numpy(dtype=bool)
    return missing


def read_numeric(series: pd.Series, coerce: str = "float") -> NumericValues:
    """Read a column as numbers the way the model's first step does (``data.coerce``).

    NaN, blank text and ±inf are missing (Evidently drops ±inf with NaN); values that
    are present but cannot be read (``"abc"``, a fraction for ``int``) are invalid.
    Both are left out of the sorted values.
    """
    from mlctl.features.coerce import coerce_frame

    if coerce not in NUMERIC_TYPES:
        raise ProfileError(
            f"a numeric column must be read as one of {', '.join(NUMERIC_TYPES)}. "
            f"Got {coerce!r} instead."
        )
    if pd.api.types.is_float_dtype(series.dtype) and coerce == "float":
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        frame, _ = coerce_frame(pd.DataFrame({"v": series.reset_index(drop=True)}), {"v": coerce})
        values = frame["v"].to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    invalid = int(np.count_nonzero(np.isnan(values) & ~_raw_missing(series)))
    return NumericValues(
        np.sort(values[finite]), len(values) - int(finite.sum()) - invalid, invalid
    )


def read_categories(series: pd.Series, coerce: str = "category") -> CategoryValues:
    """Read a column as categories the way the model's first step does: text, so
    ``0``, ``0.0`` and ``"0"`` are the one category ``"0"``; blank text is missing."""

    if coerce not in CATEGORICAL_TYPES:
        raise ProfileError(
            f"a categorical column must be read as one of {', '.join(CATEGORICAL_TYPES)}. "
            f"Got {coerce!r} instead."
        )
    if hashes_safely(series):
        # Coerce each distinct raw value once: a column holds few of them.
        raw = series.value_counts(dropna=False, sort=False)
        raw = raw[raw.to_numpy() > 0]  # a pandas Categorical also counts unused categories
        values = pd.Series(raw.index.to_numpy(dtype=object), dtype=object)
        weights = raw.to_numpy(dtype=np.int64)
    else:
        values, weights = series.reset_index(drop=True), np.ones(len(series), dtype=np.int64)
    return categories_of(values, weights, coerce)


def categories_of(values: pd.Series, weights: np.ndarray, coerce: str) -> CategoryValues:
    """:func:`read_categories` of raw values given once each with their counts."""
    from mlctl.features.coerce import coerce_frame

    frame, _ = coerce_frame(pd.DataFrame({"v": values}), {"v": coerce})
    missing = frame["v"].isna().to_numpy(dtype=bool)
    text = frame["v"].to_numpy(dtype=object)[~missing]
    counts = pd.Series(weights[~missing]).groupby(text.astype(str), sort=False).sum()
    keys = counts.index.to_numpy(dtype=str)
    n = counts.to_numpy(dtype=np.int64)
    order = np.lexsort((keys, -n)) if len(keys) else np.array([], dtype=np.int64)
    ordered = dict(zip(keys[order].tolist(), n[order].tolist(), strict=True))
    return CategoryValues(ordered, int(weights[missing].sum()))


def hashes_safely(series: pd.Series) -> bool:
    """Whether counting raw values first keeps every value apart that coercion keeps
    apart (``True == 1`` would merge a boolean with a number)."""
    dtype = series.dtype
    if not pd.api.types.is_object_dtype(dtype) and (
        pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_numeric_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    ):
        return True
    kind = pd.api.types.infer_dtype(series, skipna=True)
    return kind in ("string", "integer", "floating", "mixed-integer-float", "empty")


# ------------------------------------------------------------------------ building


def numeric_profile(
    series: pd.Series, coerce: str = "float", caps: ProfileCaps | None = None
) -> NumericProfile:
    """The profile of one numeric column (see the module docstring)."""
    caps = caps or ProfileCaps()
    read = read_numeric(series, coerce)
    s = read.sorted
    n = len(s)
    if n == 0:
        return NumericProfile(
            0, read.missing, read.invalid, None, None, None, None, 0, [], [], None, coerce
        )
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    n_unique = len(starts)
    profile = NumericProfile(
        count=n,
        missing=read.missing,
        invalid=read.invalid,
        mean=float(np.mean(s)),
        std=float(np.std(s)),
        min=float(s[0]),
        max=float(s[-1]),
        n_unique=n_unique,
        coerce=coerce,
    )
    if n_unique <= caps.exact_values:
        profile.values = s[starts].tolist()
        profile.counts = np.diff(np.r_[starts, n]).tolist()
    else:
        profile.quantiles = sorted_quantiles(s, caps.quantiles).tolist()
    return profile


def sorted_quantiles(s: np.ndarray, k: int) -> np.ndarray:
    """``k`` evenly spaced quantiles (levels 0..1) of sorted values, linear interpolation
    (numpy's default method); forced non-decreasing against rounding."""
    pos = np.linspace(0.0, 1.0, k) * (len(s) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(s) - 1)
    q = s[lo] + (s[hi] - s[lo]) * (pos - lo)
    return np.maximum.accumulate(q)


def categorical_profile(
    series: pd.Series, coerce: str = "category", caps: ProfileCaps | None = None
) -> CategoricalProfile:
    """The profile of one categorical column (see the module docstring)."""
    caps = caps or ProfileCaps()
    read = read_categories(series, coerce)
    items = list(read.counts.items())
    kept = dict(items[: caps.categories])
    other = sum(n for _, n in items[caps.categories :])
    return CategoricalProfile(read.count, read.missing, len(items), kept, other, coerce)


def build_profile(
    X: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    scores: Any = None,
    predictions: Any = None,
    task: str = "classification",
    metrics: dict[str, float] | None = None,
    *,
    coerce: dict[str, str] | None = None,
    score_meaning: str | None = None,
    scores_from: str = "test",
    caps: ProfileCaps | None = None,
) -> ReferenceProfile:
    """Profile the raw model input columns of the training split.

    Args:
        X: The training split's raw input columns (before the pipeline).
        numeric: Columns profiled as numbers.
        categorical: Columns profiled as categories.
        scores: The model's scores on the held-out split (e.g. the positive class's
            probability, or a regressor's predictions), or None.
        predictions: The predicted classes on the same split, or None.
        task: ``classification`` or ``regression``.
        metrics: The model's test metrics (kept for performance monitoring).
        coerce: Column to its ``data.coerce`` type (``float``, ``int``, ``bool``,
            ``category``, ``str``), so drift checks read current values the same way;
            numeric columns default to ``float``, categorical ones to ``category``.
        score_meaning: What a score is, for people reading reports.
        scores_from: Which split the scores and predictions come from.
        caps: Size limits (:class:`ProfileCaps`).

    Raises:
        ProfileError: a column is missing from ``X``, listed as both kinds, or has a
            ``coerce`` type of the other kind.
    """
    caps = caps or ProfileCaps()
    coerce = dict(coerce or {})
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise ProfileError(f"columns listed as both numeric and categorical: {', '.join(both)}")
    absent = [c for c in [*numeric, *categorical] if c not in X.columns]
    if absent:
        raise ProfileError(f"columns to profile are missing from the data: {', '.join(absent)}")
    kinds = {**dict.fromkeys(numeric, "numeric"), **dict.fromkeys(categorical, "categorical")}
    columns: dict[str, ColumnProfile] = {}
    for name in [c for c in X.columns if c in kinds]:
        if kinds[name] == "numeric":
            columns[name] = numeric_profile(X[name], coerce.get(name, "float"), caps)
        else:
            columns[name] = categorical_profile(X[name], coerce.get(name, "category"), caps)
    score_profile = None
    if scores is not None:
        score_profile = numeric_profile(pd.Series(np.asarray(scores, dtype=np.float64)), caps=caps)
    prediction_profile = None
    if predictions is not None:
        prediction_profile = categorical_profile(
            pd.Series(np.asarray(predictions, dtype=object)), caps=caps
        )
    return ReferenceProfile(
        task=task,
        rows=len(X),
        columns=columns,
        scores=score_profile,
        predictions=prediction_profile,
        score_meaning=score_meaning,
        scores_from=scores_from,
        metrics={k: float(v) for k, v in (metrics or {}).items() if v is not None},
        caps=caps,
    )


# ------------------------------------------------------------------------- loading


def load_profile(
    source: Workspace | Registry, model_name: str, version: int | str
) -> ReferenceProfile:
    """The reference profile of a registered model version (a number or an alias).

    The version's run is looked up in the registry and its
    :data:`PROFILE_ARTIFACT` downloaded.

    Raises:
        RegistryError: no such model, version or alias.
        ProfileNotFoundError: the version's run has no profile (trained before mlctl
            made them).
        ProfileError: the profile is damaged or written by a newer mlctl.
        TrackingError: the tracking store cannot be read.
    """
    from mlctl.tracking import local_read
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.runs import read_run_text

    ws = source.ws if isinstance(source, Registry) else source
    info = local_read.version_info(ws, model_name, version)
    path = local_read.run_artifact(ws, info.run_id, PROFILE_ARTIFACT) if info else None
    if path is not None:  # read without importing MLflow
        text = path.read_text(encoding="utf-8") if path.is_file() else None
    else:
        registry = source if isinstance(source, Registry) else Registry(source)
        info = registry.version(model_name, version)
        text = read_run_text(ws, info.run_id, PROFILE_ARTIFACT) if info.run_id else None
    if text is None:
        raise ProfileNotFoundError(
            f"model '{model_name}' version {info.version} was trained before reference "
            f"profiles existed (its run {info.run_id or '?'} has no {PROFILE_ARTIFACT})",
            hint="retrain it with mlctl run",
        )
    return ReferenceProfile.from_json(text)
