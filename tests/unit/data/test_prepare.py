"""Data checks: missing columns, coercion, expectations, target, split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlctl.data.load import fingerprint, read_table
from mlctl.data.prepare import check_frame, input_columns, pipeline_types, split
from mlctl.errors import DataError
from mlctl.recipe.loader import validate

pytestmark = pytest.mark.unit


def recipe(**over):
    base = {
        "name": "t",
        "data": {"source": "x.csv", "target": "y"},
        "features": {"numeric": ["a"], "categorical": ["c"]},
        "models": {"cv_folds": 2},
    }
    for key, value in over.items():
        node = base
        *parents, last = key.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return validate(base)


def frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "c": rng.choice(["u", "v"], size=n),
            "y": np.tile(["no", "yes"], n // 2),
        }
    )


def test_happy_path_classes_and_positive() -> None:
    df, classes, positive, notes, dropped = check_frame(recipe(), frame())
    assert classes == ["no", "yes"] and positive == "yes"
    assert dropped == 0 and notes == []


def test_missing_columns_listed_with_suggestion() -> None:
    r = recipe(features__numeric=["aa", "zzz"])
    with pytest.raises(DataError) as exc:
        check_frame(r, frame())
    text = str(exc.value)
    assert "column 'aa' (features.numeric) is not in the data; did you mean 'a'?" in text
    assert "column 'zzz'" in text
    assert "2 problems" in text
    assert exc.value.hint == "columns in the data: a, c, y"


def test_coercion_failure_names_value_and_row() -> None:
    df = frame()
    df["a"] = df["a"].astype(str)
    df.loc[3, "a"] = " "
    df.loc[5, "a"] = "abc"
    with pytest.raises(DataError) as exc:
        check_frame(recipe(data__coerce={"a": "float"}), df)
    assert "'abc' at row 6" in str(exc.value)


def test_blank_coerced_to_missing() -> None:
    df = frame()
    df["a"] = df["a"].astype(str)
    df.loc[3, "a"] = " "
    out, *_ = check_frame(recipe(data__coerce={"a": "float"}), df)
    assert np.isnan(out.loc[3, "a"])


def test_text_in_numeric_column_without_coercion() -> None:
    df = frame()
    df["a"] = df["a"].astype(object)
    df.loc[2, "a"] = "oops"
    with pytest.raises(DataError) as exc:
        check_frame(recipe(), df)
    assert "column 'a' is used as numeric but holds text, e.g. 'oops' at row 3" in str(exc.value)


def test_infinities_in_numeric_columns_and_a_regression_target_are_named() -> None:
    df = frame()
    df.loc[4, "a"] = np.inf
    df.loc[9, "a"] = -np.inf
    with pytest.raises(DataError) as exc:
        check_frame(recipe(), df)
    assert "column 'a' holds 2 rows with an infinite value, e.g. inf at row 5" in str(exc.value)
    df = frame().assign(y=np.arange(40, dtype=float))
    df.loc[7, "y"] = np.inf
    with pytest.raises(DataError) as exc:
        check_frame(recipe(task="regression"), df)
    assert "target 'y' holds 1 row with an infinite value" in str(exc.value)


def test_expectations_all_reported() -> None:
    df = frame()
    df.loc[0, "a"] = -5.0
    df.loc[1, "c"] = "w"
    df.loc[2:30, "a"] = np.nan
    r = recipe(
        data__expectations={
            "columns": {
                "a": {"min": -3, "max_missing": 0.1},
                "c": {"allowed": ["u", "v"]},
            }
        }
    )
    with pytest.raises(DataError) as exc:
        check_frame(r, df)
    text = str(exc.value)
    assert "more than max_missing" in text
    assert "value -5.0 at row 1 is below min -3" in text
    assert "value 'w' at row 2 is not allowed" in text
    assert "3 problems" in text


def test_one_class_target_and_rare_class() -> None:
    df = frame()
    df["y"] = "no"
    with pytest.raises(DataError, match="has one class only"):
        check_frame(recipe(), df)
    df.loc[0, "y"] = "yes"
    with pytest.raises(DataError, match="fewer than models.cv_folds"):
        check_frame(recipe(), df)


def test_rows_without_target_are_dropped_with_a_note() -> None:
    df = frame()
    df.loc[[0, 1], "y"] = None
    out, _, _, notes, dropped = check_frame(recipe(), df)
    assert dropped == 2 and len(out) == 38
    assert notes == ["dropped 2 rows with no target value"]


def test_unknown_positive_class() -> None:
    with pytest.raises(DataError, match="positive_class 'maybe' is not a value"):
        check_frame(recipe(data__positive_class="maybe"), frame())


def test_min_rows() -> None:
    with pytest.raises(DataError, match="fewer than data.expectations.min_rows"):
        check_frame(recipe(data__expectations={"min_rows": 100}), frame())


def test_input_columns_include_expression_columns() -> None:
    r = recipe(features__derived=[{"name": "r", "expr": "a / (b + 1)"}])
    assert input_columns(r) == ["a", "c", "b"]
    assert pipeline_types(r) == {"c": "category", "a": "float", "b": "float"}


def test_stratified_split_keeps_class_balance() -> None:
    df = frame(100)
    X_tr, X_te, y_tr, y_te = split(recipe(), df)
    assert len(X_te) == 20 and (y_te == "yes").sum() == 10


def test_time_split_holds_out_the_latest_rows() -> None:
    df = frame(20)
    df["t"] = pd.date_range("2024-01-01", periods=20)[::-1]
    X_tr, X_te, *_ = split(recipe(split={"strategy": "time", "time_column": "t"}), df)
    assert X_te["t"].min() > X_tr["t"].max()


def test_read_table_glob_and_errors(tmp_path) -> None:
    frame(10).to_csv(tmp_path / "p1.csv", index=False)
    frame(10).to_parquet(tmp_path / "p2.parquet", index=False)
    frame(10).to_csv(tmp_path / "p3.csv", index=False)
    df, files = read_table(tmp_path / "p*.csv")
    assert len(df) == 20 and len(files) == 2
    df, _ = read_table(tmp_path / "p2.parquet")
    assert len(df) == 10
    assert fingerprint(files) != fingerprint(files[:1])
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="header but no data rows"):
        read_table(tmp_path / "header.csv")
    with pytest.raises(DataError, match="no file matches"):
        read_table(tmp_path / "none*.csv")
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot parse .*bad.parquet as parquet"):
        read_table(tmp_path / "bad.parquet")
