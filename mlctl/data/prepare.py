"""From the raw table to checked training and test splits.

All column problems are collected and reported together, each naming the
column and showing an offending value and its row (row 1 is the first data row).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlctl.data.load import fingerprint, read_table
from mlctl.errors import DataError, RecipeError
from mlctl.recipe.loaded import LoadedRecipe
from mlctl.recipe.schema import ColumnExpectation, Recipe


@dataclass
class Dataset:
    """Checked data, split into train and test, and facts about it."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    input_columns: list[str]
    classes: list[Any]
    positive_class: Any
    fingerprint: str
    files: list[Path]
    rows: int
    dropped_rows: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def is_binary(self) -> bool:
        return len(self.classes) == 2


def input_columns(recipe: Recipe) -> list[str]:
    """Raw columns the model needs: features plus those derived expressions read."""
    from mlctl.features.expressions import parse_expression

    f = recipe.features
    cols = list(dict.fromkeys(f.numeric + f.categorical))
    derived = {d.name for d in f.derived}
    for d in f.derived:
        for c in sorted(parse_expression(d.expr, name=d.name).columns):
            if c not in derived and c not in cols:
                cols.append(c)
    return cols


def _where_used(recipe: Recipe, column: str) -> str:
    """The recipe key that asks for an input column, for error messages."""
    from mlctl.features.expressions import parse_expression

    f = recipe.features
    for kind in ("numeric", "categorical"):
        if column in getattr(f, kind):
            return f"features.{kind}"
    for i, d in enumerate(f.derived):
        if column in parse_expression(d.expr, name=d.name).columns:
            return f"features.derived.{i}.expr of '{d.name}'"
    return "features"


def load_dataset(loaded: LoadedRecipe) -> Dataset:
    """Read, coerce, check and split the recipe's data.

    Raises:
        DataError: with every problem found in the columns and the target.
    """
    r = loaded.recipe
    source = loaded.resolve_path(r.data.source)
    df, files = read_table(source, r.data.format, r.data.csv_separator)
    frame, classes, positive, notes, dropped = check_frame(r, df)
    if loaded.pending:  # the data's columns are fine: what depends on them is not
        raise RecipeError(loaded.pending)
    X_train, X_test, y_train, y_test = split(r, frame)
    cols = input_columns(r)
    return Dataset(
        X_train=X_train[cols],
        X_test=X_test[cols],
        y_train=y_train,
        y_test=y_test,
        input_columns=cols,
        classes=classes,
        positive_class=positive,
        fingerprint=fingerprint(files),
        files=files,
        rows=len(frame),
        dropped_rows=dropped,
        notes=notes,
    )


def check_frame(r: Recipe, df: pd.DataFrame) -> tuple[pd.DataFrame, list, Any, list[str], int]:
    """Coerce and check a raw frame; returns it with the classes and notes."""
    from mlctl.features.coerce import coerce_frame

    problems = _missing_columns(r, df)
    if problems:
        raise DataError(_join(problems), hint=_columns_hint(df))
    df = df.drop(columns=list(r.data.drop)).reset_index(drop=True)
    df, failures = coerce_frame(df, dict(r.data.coerce))
    for col, samples in failures.items():
        row, value = samples[0]
        problems.append(
            f"column '{col}' (data.coerce: {r.data.coerce[col]}): {_v(value)} at row {row + 1} "
            f"cannot be read as {r.data.coerce[col]}{_more(len(samples))}"
        )
    cols = input_columns(r)
    problems += _numeric_problems(r, df, cols)
    for col, exp in r.data.expectations.columns.items():
        problems += _expectation_problems(col, df[col], exp)
    notes: list[str] = []
    missing_target = df[r.data.target].isna()
    dropped = int(missing_target.sum())
    if dropped:
        notes.append(f"dropped {dropped} rows with no target value")
        df = df.loc[~missing_target].reset_index(drop=True)
    if len(df) < r.data.expectations.min_rows:
        problems.append(
            f"data has {len(df)} rows, fewer than data.expectations.min_rows "
            f"({r.data.expectations.min_rows})"
        )
    if r.data.id_column and df[r.data.id_column].duplicated().any():
        first = df.loc[df[r.data.id_column].duplicated(), r.data.id_column].iloc[0]
        problems.append(f"id column '{r.data.id_column}': duplicate value {_v(first)}")
    classes, positive = [], None
    if r.task == "classification":
        classes, positive, target_problems = _target_classes(r, df[r.data.target])
        problems += target_problems
    else:
        problems += _regression_target(r, df[r.data.target])
    if problems:
        raise DataError(_join(problems))
    # Columns keep their read (or declared) types: that is what the model's signature
    # promises callers. The pipeline's first step normalizes them (pipeline_types).
    return df, classes, positive, notes, dropped


def pipeline_types(r: Recipe) -> dict[str, str]:
    """Types the model's first step coerces its inputs to, at training and serving alike.

    Declared coercions win; other categorical inputs become text and other numeric
    inputs become floats, so a client sending ``0`` or ``"0"`` gets the same answer.
    """
    types = {c: "category" for c in r.features.categorical}
    for col in input_columns(r):
        types.setdefault(col, "float")
    types.update({c: t for c, t in r.data.coerce.items() if c in types})
    return types


def _v(value: Any) -> str:
    """A value as a user would write it (no numpy reprs)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _bool_trap(allowed: list, values: pd.Series) -> str:
    """YAML 1.1 reads unquoted yes/no/on/off as booleans; say so when that bites."""
    if any(isinstance(a, bool) for a in allowed) and not pd.api.types.is_bool_dtype(values):
        return ' (YAML read unquoted yes/no/on/off as true/false: quote them, e.g. "Yes")'
    return ""


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n} rows"


def _more(samples: int) -> str:
    """Coercion failures are sampled, so more than the samples may exist."""
    return "" if samples <= 1 else f" ({samples} or more such values)"


def _join(problems: list[str]) -> str:
    if len(problems) == 1:
        return f"data error: {problems[0]}"
    return f"data has {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)


def _missing_columns(r: Recipe, df: pd.DataFrame) -> list[str]:
    have = list(map(str, df.columns))
    wanted: dict[str, str] = {r.data.target: "data.target"}
    for col in input_columns(r):
        wanted.setdefault(col, _where_used(r, col))
    if r.data.id_column:
        wanted.setdefault(r.data.id_column, "data.id_column")
    if r.split.time_column:
        wanted.setdefault(r.split.time_column, "split.time_column")
    for col in r.data.coerce:
        wanted.setdefault(col, "data.coerce")
    for col in r.data.expectations.columns:
        wanted.setdefault(col, "data.expectations.columns")
    for col in r.data.drop:
        wanted.setdefault(col, "data.drop")
    problems = []
    for col, key in wanted.items():
        if col not in have:
            close = difflib.get_close_matches(col, have, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.append(f"column '{col}' ({key}) is not in the data{hint}")
    return problems


def _columns_hint(df: pd.DataFrame, limit: int = 40) -> str:
    cols = list(map(str, df.columns))
    shown = ", ".join(cols[:limit]) + (
        f", ... ({len(cols) - limit} more)" if len(cols) > limit else ""
    )
    return f"columns in the data: {shown}"


def _numeric_problems(r: Recipe, df: pd.DataFrame, cols: list[str]) -> list[str]:
    problems = []
    numeric = [c for c in cols if c not in r.features.categorical]
    for col in numeric:
        s = df[col]
        if pd.api.types.is_bool_dtype(s):
            continue
        if pd.api.types.is_numeric_dtype(s):
            problems += _infinite(f"column '{col}'", s)
            continue
        converted = pd.to_numeric(s, errors="coerce")
        bad = s.notna() & converted.isna()
        row = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
        problems.append(
            f"column '{col}' is used as numeric but holds text, e.g. {_v(s.iloc[row])} at row "
            f"{row + 1}; list it under features.categorical, or add 'data.coerce: "
            f"{{{col}: float}}' to turn unreadable values into missing ones"
        )
    return problems


def _infinite(what: str, s: pd.Series) -> list[str]:
    """An infinity in a number column: scikit-learn refuses it, so say where it is."""
    inf = np.isinf(s.to_numpy(dtype=np.float64, na_value=np.nan))
    if not inf.any():
        return []
    rows = np.flatnonzero(inf)
    return [
        f"{what} holds {_rows(len(rows))} with an infinite value, e.g. {_v(s.iloc[rows[0]])} "
        f"at row {rows[0] + 1}; models cannot learn from infinities: replace them in the "
        "data (a missing value is imputed)"
    ]


def _expectation_problems(col: str, s: pd.Series, exp: ColumnExpectation) -> list[str]:
    out = []
    present = s.notna()
    share = 1.0 - float(present.mean()) if len(s) else 0.0
    if share > exp.max_missing:
        out.append(
            f"column '{col}': {share:.1%} missing, more than max_missing {exp.max_missing:.1%}"
        )
    values = s[present]
    if exp.type in ("float", "int", "bool") and not pd.api.types.is_numeric_dtype(values):
        bad = pd.to_numeric(values, errors="coerce").isna()
        if bad.any():
            i = bad.idxmax()
            out.append(f"column '{col}': expected {exp.type}, got {_v(values[i])} at row {i + 1}")
            return out
    if exp.type in ("str", "category") and pd.api.types.is_numeric_dtype(values):
        out.append(
            f"column '{col}': expected {exp.type}, got numbers (e.g. {_v(values.iloc[0])}); "
            f"add 'data.coerce: {{{col}: {exp.type}}}' to read them as text"
        )
    if exp.type == "datetime" and not pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values.astype(str), errors="coerce", format="mixed")
        if parsed.isna().any():
            i = parsed.isna().idxmax()
            out.append(f"column '{col}': expected datetime, got {_v(values[i])} at row {i + 1}")
    if exp.type == "int" and pd.api.types.is_numeric_dtype(values):
        frac = values.astype(float) % 1 != 0
        if frac.any():
            i = frac.idxmax()
            out.append(f"column '{col}': expected int, got {_v(values[i])} at row {i + 1}")
    if exp.allowed is not None:
        allowed = {str(a) for a in exp.allowed}
        bad = ~values.astype(str).isin(allowed)
        if bad.any():
            i = bad.idxmax()
            out.append(
                f"column '{col}': value {_v(values[i])} at row {i + 1} is not allowed "
                f"({_rows(int(bad.sum()))}); allowed: {sorted(allowed)}"
                + _bool_trap(exp.allowed, values)
            )
    if exp.min is not None or exp.max is not None:
        num = pd.to_numeric(values, errors="coerce")
        if exp.min is not None and (num < exp.min).any():
            i = (num < exp.min).idxmax()
            out.append(
                f"column '{col}': value {_v(values[i])} at row {i + 1} is below min {exp.min:g}"
            )
        if exp.max is not None and (num > exp.max).any():
            i = (num > exp.max).idxmax()
            out.append(
                f"column '{col}': value {_v(values[i])} at row {i + 1} is above max {exp.max:g}"
            )
    if exp.unique and values.duplicated().any():
        i = values.duplicated().idxmax()
        out.append(f"column '{col}': duplicate value {_v(values[i])} at row {i + 1}")
    return out


def _target_classes(r: Recipe, y: pd.Series) -> tuple[list, Any, list[str]]:
    target = r.data.target
    counts = y.value_counts()
    classes = sorted(counts.index.tolist(), key=str)
    problems = []
    if len(classes) < 2:
        found = classes[0] if classes else "nothing"
        problems.append(f"target '{target}' has one class only ({found!r}); need at least two")
        return classes, None, problems
    if len(classes) > 50:
        problems.append(
            f"target '{target}' has {len(classes)} distinct values; for a numeric target "
            "set task: regression"
        )
    folds = r.models.cv_folds
    rare = counts[counts < folds]
    if len(rare):
        problems.append(
            f"target '{target}': class {rare.index[0]!r} has {int(rare.iloc[0])} rows, fewer "
            f"than models.cv_folds ({folds})"
        )
    positive = r.data.positive_class
    if positive is not None:
        match = [c for c in classes if c == positive or str(c) == str(positive)]
        if not match:
            problems.append(
                f"data.positive_class {positive!r} is not a value of target '{target}'; "
                f"values: {classes}"
            )
        else:
            positive = match[0]
    elif len(classes) == 2:
        positive = classes[-1]
    return classes, positive, problems


def _regression_target(r: Recipe, y: pd.Series) -> list[str]:
    if pd.api.types.is_numeric_dtype(y):
        return _infinite(f"target '{r.data.target}'", y)
    bad = pd.to_numeric(y, errors="coerce").isna()
    i = bad.idxmax()
    return [
        f"target '{r.data.target}' must be numeric for regression; got {_v(y[i])} at row {i + 1}"
    ]


def split(r: Recipe, df: pd.DataFrame):
    """Train/test split by the recipe's strategy; returns X_train, X_test, y_train, y_test."""
    from sklearn.model_selection import train_test_split

    s = r.split
    y = df[r.data.target]
    X = df.drop(columns=[r.data.target])
    if s.strategy == "time":
        order = pd.to_datetime(df[s.time_column], errors="coerce")
        if order.isna().all():
            order = df[s.time_column]
        idx = order.sort_values(kind="stable").index
        n_test = max(1, int(round(len(df) * s.test_size)))
        train_idx, test_idx = idx[:-n_test], idx[-n_test:]
        return X.loc[train_idx], X.loc[test_idx], y.loc[train_idx], y.loc[test_idx]
    stratify = y if s.strategy == "stratified" else None
    try:
        return train_test_split(X, y, test_size=s.test_size, random_state=s.seed, stratify=stratify)
    except ValueError as exc:
        raise DataError(f"split: cannot split the data: {exc}") from None
