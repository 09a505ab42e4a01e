"""Decisions ``mlctl init`` takes from a profiled table, each with the reason for it.

Everything here is pure: a :class:`Plan` is computed from a sample frame and the
column profiles, and rendered elsewhere (as YAML by :mod:`mlctl.scaffold.recipe`, as
a summary or JSON by the CLI).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlctl.errors import DataError, UsageError
from mlctl.scaffold.portfolio import (
    FOLDS,
    N_ITER,
    TIER_TEXT,
    Candidate,
    candidates_for,
    ensemble_for,
    tier_of,
    time_budget_for,
)
from mlctl.scaffold.profile import MANY_CATEGORIES, ColumnProfile, Table

#: Most classes a classification target may have (the data checks refuse more).
MAX_CLASSES = 50
#: Whole-number targets with at most this many values are read as classes.
MAX_INTEGER_CLASSES = 10
#: Each class needs this many rows: at least two training folds and one test row.
MIN_CLASS_ROWS = 3
TEST_SIZE = 0.2
#: The winner must beat the dummy baseline's ROC AUC (0.5) by this much.
AUC_MARGIN = 0.05
#: Regression: the winner's RMSE must be this share of the target's spread below the
#: baseline's (a mean predictor, whose RMSE is about the standard deviation).
RMSE_MARGIN_SHARE = 0.1


@dataclass
class Target:
    """The target column, the task it implies, and its classes or spread."""

    name: str
    task: str
    reason: str
    rows: int  # rows with a target value
    missing: int
    classes: list[Any] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    positive_class: Any = None
    positive_reason: str = ""
    mean: float | None = None
    std: float | None = None
    float_labels: bool = False  # whole numbers read as floats (e.g. 0/1 with blanks)

    @property
    def is_binary(self) -> bool:
        return len(self.classes) == 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = [_plain(c) for c in self.classes]
        d["positive_class"] = _plain(self.positive_class)
        return d


@dataclass
class Plan:
    """Every decision ``mlctl init`` took, with its reason."""

    name: str
    source: str  # as written in the recipe: relative to the recipe's folder
    file: str
    format: str
    separator: str
    rows_read: int
    rows_total: int
    sampled: bool
    target: Target
    columns: list[ColumnProfile]
    numeric: list[str]
    categorical: list[str]
    id_column: str | None
    coerce: dict[str, str]
    split: dict[str, Any]
    split_reason: str
    min_rows: int
    min_frequency: int | None
    selection_metric: str
    cv_folds: int
    sizing_reason: str
    candidates: list[Candidate]
    n_iter: int
    time_budget: int
    ensemble: dict[str, Any] | None
    readiness: dict[str, Any]
    readiness_reason: str
    importance_repeats: int
    notes: list[str] = field(default_factory=list)

    @property
    def dropped(self) -> list[ColumnProfile]:
        used = set(self.numeric) | set(self.categorical)
        return [c for c in self.columns if c.name not in used]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["target"] = self.target.to_dict()
        d["columns"] = [c.to_dict() for c in self.columns]
        d["candidates"] = [c.to_dict() for c in self.candidates]
        d["dropped"] = [{"name": c.name, "kind": c.kind, "reason": c.reason} for c in self.dropped]
        return d


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (YAML and JSON can write them)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ------------------------------------------------------------------ the target
def analyse_target(table: Table, target: str, task: str = "auto") -> Target:
    """The task a target implies, its classes (or spread) and the positive class.

    Raises:
        DataError: the column is missing (the message lists the columns), empty,
            constant, or unusable for the task (all-unique labels, too many classes,
            text for regression, a class with too few rows).
    """
    frame = table.frame
    columns = list(frame.columns)
    if target not in columns:
        close = difflib.get_close_matches(target, columns, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise DataError(
            f"target column '{target}' is not in {table.path}{hint}",
            hint=f"columns in the file: {', '.join(columns)}",
        )
    y = frame[target]
    values = y.dropna()
    missing = int(y.isna().sum())
    if values.empty:
        raise DataError(f"target '{target}' has no values in {table.path}")
    counts = values.value_counts()
    if len(counts) == 1:
        raise DataError(
            f"target '{target}' has one value only ({_plain(counts.index[0])!r} in "
            f"{len(values):,} rows): there is nothing to predict",
            hint="choose a column whose value varies between rows",
        )
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if numeric and np.isinf(values.to_numpy(dtype=float)).any():
        rows = [int(i) + 1 for i in values.index[np.isinf(values.to_numpy(dtype=float))][:5]]
        raise DataError(
            f"target '{target}' has infinite values (inf or -inf at row "
            f"{', '.join(map(str, rows))}) in {table.path}: no model can learn them",
            hint="replace or remove those rows first",
        )
    integral = numeric and bool((values % 1 == 0).all())
    if task == "auto":
        task, reason = _infer_task(y, counts, numeric, integral)
    else:
        reason = f"chosen with --task ({len(counts):,} distinct values)"
    if task == "regression":
        if not numeric:
            raise DataError(
                f"target '{target}' holds text (e.g. {_plain(values.iloc[0])!r}), so it "
                "cannot be a regression target",
                hint="leave out --task regression to classify it",
            )
        return Target(
            target,
            task,
            reason,
            len(values),
            missing,
            mean=float(values.mean()),
            std=float(values.std(ddof=0)),
        )
    return _classes(target, task, reason, values, counts, missing, numeric)


def _infer_task(y: pd.Series, counts: pd.Series, numeric: bool, integral: bool) -> tuple[str, str]:
    n = len(counts)
    if pd.api.types.is_bool_dtype(y):
        return "classification", "true/false values: binary classification"
    if not numeric:
        kind = "binary" if n == 2 else "multiclass"
        return "classification", f"{n:,} text labels: {kind} classification"
    if integral and n <= MAX_INTEGER_CLASSES:
        kind = "binary" if n == 2 else "multiclass"
        return "classification", f"{n} whole-number labels: {kind} classification"
    what = "whole numbers" if integral else "numbers"
    return "regression", f"{what} with {n:,} distinct values: regression"


def _classes(
    target: str,
    task: str,
    reason: str,
    values: pd.Series,
    counts: pd.Series,
    missing: int,
    numeric: bool,
) -> Target:
    n = len(counts)
    if n == len(values):
        raise DataError(
            f"target '{target}' has a different value in every row ({n:,} values), so no "
            "class repeats: it cannot be a classification target",
            hint="for a number to predict pass --task regression"
            if numeric
            else "choose the column that holds the label",
        )
    if n > MAX_CLASSES:
        raise DataError(
            f"target '{target}' has {n:,} distinct values; classification takes at most "
            f"{MAX_CLASSES} classes",
            hint="for a number to predict pass --task regression"
            if numeric
            else "group the labels into fewer classes first",
        )
    rare = counts[counts < MIN_CLASS_ROWS]
    if len(rare):
        listed = ", ".join(f"{_plain(k)!r} ({v})" for k, v in rare.items())
        raise DataError(
            f"target '{target}': class{'es' if len(rare) > 1 else ''} {listed} "
            f"{'have' if len(rare) > 1 else 'has'} fewer than {MIN_CLASS_ROWS} rows; each class "
            "needs rows in the test set and in two cross-validation folds",
            hint="remove or merge the rare classes first",
        )
    classes = sorted(counts.index.tolist(), key=str)
    t = Target(
        target,
        task,
        reason,
        len(values),
        missing,
        classes=[_plain(c) for c in classes],
        counts=[int(counts[c]) for c in classes],
        float_labels=pd.api.types.is_float_dtype(values),
    )
    if n == 2:
        low = min(classes, key=lambda c: (counts[c], -classes.index(c)))
        share = counts[low] / len(values)
        t.positive_class = _plain(low)
        t.positive_reason = (
            f"the rarer class ({int(counts[low]):,} of {len(values):,} rows, {share:.1%})"
            if counts.iloc[0] != counts.iloc[1]
            else "both classes are equally common: the last in sort order"
        )
    return t


def cv_folds_for(target: Target, rows: int | None = None) -> tuple[int, str]:
    """Folds by size (``rows``: of the whole file, default the target's), fewer when
    the rarest class cannot fill them."""
    rows = target.rows if rows is None else rows
    folds = FOLDS[tier_of(rows)]
    if target.task == "classification":
        rarest = min(target.counts)
        fit = max(2, math.floor(rarest * (1 - TEST_SIZE)))
        if fit < folds:
            return fit, (
                f"{fit} folds: the rarest class has {rarest} rows, and every fold needs one"
            )
    return folds, f"{folds} folds for {rows:,} rows"


def readiness_for(target: Target) -> tuple[dict[str, Any], str]:
    """A gate relative to the dummy baseline, and not worse than the current champion."""
    if target.task == "classification":
        gate = {
            "beat_baseline_by": AUC_MARGIN,
            "compare_champion": True,
            "champion_tolerance": 0.005,
        }
        why = (
            f"the dummy baseline predicts class shares only and scores ROC AUC 0.5; the "
            f"winner must reach at least {0.5 + AUC_MARGIN:g} on the test set"
        )
        return gate, why
    spread = target.std or 0.0
    margin = _round_sig(RMSE_MARGIN_SHARE * spread)
    gate = {
        "beat_baseline_by": margin,
        "compare_champion": True,
        "champion_tolerance": _round_sig(0.005 * spread),
    }
    why = (
        f"the dummy baseline predicts the mean, so its RMSE is about the target's standard "
        f"deviation ({spread:,.4g}); the winner's RMSE must be at least {margin:,.4g} "
        f"({RMSE_MARGIN_SHARE:.0%} of it) lower"
    )
    return gate, why


def _round_sig(value: float, digits: int = 3) -> float:
    if value == 0 or not math.isfinite(value):
        return 0.0
    rounded = round(value, -int(math.floor(math.log10(abs(value)))) + digits - 1)
    return float(rounded)


# ------------------------------------------------------------------ the plan
def make_plan(
    table: Table,
    target: Target,
    columns: list[ColumnProfile],
    *,
    name: str,
    source: str,
    time_column: str | None = None,
) -> Plan:
    """All decisions for the recipe.

    Raises:
        UsageError: ``time_column`` is not a date column of the file.
        DataError: no column is left to use as a feature.
    """
    by_name = {c.name: c for c in columns}
    if time_column is not None:
        _check_time_column(table, by_name, time_column, target.name)
    id_column = _id_column(table, columns)
    numeric = [c.name for c in columns if c.kind == "numeric" and c.name != time_column]
    categorical = [c.name for c in columns if c.kind == "categorical" and c.name != time_column]
    if not numeric and not categorical:
        reasons = "; ".join(f"'{c.name}': {c.reason}" for c in columns) or "no other column"
        raise DataError(
            f"no column of {table.path} can be a feature of '{target.name}': {reasons}",
        )
    for c in columns:
        if c.name == time_column:
            c.kind, c.reason = "datetime", "the time column of the split (--time-column)"
        elif c.name == id_column:
            c.reason += "; used as data.id_column (kept with each prediction)"
        elif c.kind == "datetime":
            c.reason += "; dates are not features (--time-column splits by one)"
    coerce = {c.name: c.coerce for c in columns if c.coerce and c.name in numeric}
    split, split_reason = _split(target, time_column)
    # A sample stands for the whole file: size the search for the rows a run will read.
    rows = round(target.rows * table.rows_total / max(len(table.frame), 1))
    folds, folds_reason = cv_folds_for(target, rows)
    cands = candidates_for(target.task, rows, len(target.classes))
    gate, gate_reason = readiness_for(target)
    many = [c for c in categorical if by_name[c].distinct > MANY_CATEGORIES]
    min_frequency = max(5, rows // 1000) if many else None
    features = len(numeric) + len(categorical)
    notes = _notes(table, target, columns, time_column)
    return Plan(
        name=name,
        source=source,
        file=str(table.path),
        format=table.format,
        separator=table.separator,
        rows_read=len(table.frame),
        rows_total=table.rows_total,
        sampled=table.sampled,
        target=target,
        columns=columns,
        numeric=numeric,
        categorical=categorical,
        id_column=id_column,
        coerce=coerce,
        split=split,
        split_reason=split_reason,
        min_rows=max(10, target.rows // 2) if not table.sampled else 10,
        min_frequency=min_frequency,
        selection_metric="roc_auc" if target.task == "classification" else "rmse",
        cv_folds=folds,
        sizing_reason=f"{TIER_TEXT[tier_of(rows)]}; {folds_reason}",
        candidates=cands,
        n_iter=N_ITER[tier_of(rows)],
        time_budget=time_budget_for(rows),
        ensemble=ensemble_for(rows),
        readiness=gate,
        readiness_reason=gate_reason,
        importance_repeats=_importance_repeats(features, rows),
        notes=notes,
    )


def _importance_repeats(features: int, rows: int) -> int:
    """Permutation importance costs features x repeats predictions of the test rows."""
    if features > 50 or rows > 20_000:
        return 2
    return 3 if rows < 1_000 else 5


def _check_time_column(
    table: Table, by_name: dict[str, ColumnProfile], column: str, target: str
) -> None:
    dates = [c.name for c in by_name.values() if c.kind == "datetime"]
    listed = f"date columns found: {', '.join(dates)}" if dates else "no date column was found"
    if column == target:
        raise UsageError(f"--time-column '{column}' is the target; {listed}")
    if column not in by_name:
        close = difflib.get_close_matches(column, list(by_name), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UsageError(
            f"--time-column '{column}' is not a column of {table.path}{hint}", hint=listed
        )
    if by_name[column].kind != "datetime":
        raise UsageError(
            f"--time-column '{column}' does not hold dates ({by_name[column].reason})",
            hint=listed,
        )


def _id_column(table: Table, columns: list[ColumnProfile]) -> str | None:
    """The first id-like column, when the whole file was read (uniqueness is then
    known, and ``data.id_column`` checks it on every run)."""
    if table.sampled:
        return None
    return next((c.name for c in columns if c.kind == "id"), None)


def _split(target: Target, time_column: str | None) -> tuple[dict[str, Any], str]:
    if time_column:
        split = {"strategy": "time", "test_size": TEST_SIZE, "time_column": time_column}
        return split, (
            f"the latest {TEST_SIZE:.0%} of rows by '{time_column}' are the test set, and "
            "cross-validation folds are time-ordered too: the model is judged on the future"
        )
    if target.task == "classification":
        split = {"strategy": "stratified", "test_size": TEST_SIZE}
        return split, f"keeps the class shares of '{target.name}' the same in train and test"
    return {"strategy": "random", "test_size": TEST_SIZE}, (
        f"a random {TEST_SIZE:.0%} of rows is the test set (pass --time-column to split by time)"
    )


def _notes(
    table: Table, target: Target, columns: list[ColumnProfile], time_column: str | None
) -> list[str]:
    notes = []
    if table.sampled:
        approx = "" if table.rows_exact else "about "
        notes.append(
            f"read the first {len(table.frame):,} of {approx}{table.rows_total:,} rows; kinds, "
            "classes and sizes come from that sample (raise --sample-rows to read more)"
        )
    if target.missing:
        notes.append(f"{target.missing:,} rows have no '{target.name}' value; mlctl run drops them")
    dates = [c.name for c in columns if c.kind == "datetime" and c.name != time_column]
    if dates and not time_column:
        notes.append(
            f"date column{'s' if len(dates) > 1 else ''} {', '.join(dates)}: pass "
            f"--time-column {dates[0]} to test on the latest rows instead of a random share"
        )
    return notes
