"""Batch scoring's pure parts: row checks against a signature, output naming, atomic files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from mlctl.errors import DataError
from mlctl.predict.batch import BatchSummary, _check_target
from mlctl.predict.files import AtomicTableWriter, output_format
from mlctl.predict.validate import (
    INFINITE,
    NOT_A_NUMBER,
    InputColumn,
    check_chunk,
    check_columns,
    input_columns,
    numeric_values,
)
from mlctl.text import class_text as _label

pytestmark = pytest.mark.unit

SCHEMA = [
    {"name": "tenure", "type": "long", "required": True},
    {"name": "MonthlyCharges", "type": "double", "required": True},
    {"name": "Contract", "type": "string", "required": True},
]
COLUMNS = input_columns(SCHEMA)


def chunk(**columns) -> pd.DataFrame:
    base = {"tenure": [1, 2, 3], "MonthlyCharges": [10.0, 20.0, 30.0], "Contract": ["a", "b", "c"]}
    return pd.DataFrame(base | columns)


def test_clean_chunk_has_no_rejects_and_keeps_signature_order() -> None:
    frame = chunk(extra=[1, 2, 3])[["extra", "Contract", "MonthlyCharges", "tenure"]]
    checked = check_chunk(frame, COLUMNS, first_row=1)
    assert checked.good.all()
    assert checked.rejects.empty
    # Extra columns are dropped; the model's columns come in signature order.
    assert list(checked.inputs.columns) == ["tenure", "MonthlyCharges", "Contract"]


def test_bad_values_are_found_with_row_column_value_and_reason() -> None:
    frame = chunk(
        tenure=["12", "twelve", " 7 "],
        MonthlyCharges=[np.inf, 20.0, -np.inf],
    )
    checked = check_chunk(frame, COLUMNS, first_row=101)
    assert checked.good.tolist() == [False, False, False]
    rows = checked.rejects.to_dict("records")
    assert rows == [
        {
            "row": 101,
            "column": "MonthlyCharges",
            "value": "inf",
            "reason": f"{INFINITE} (column type double)",
        },
        {
            "row": 102,
            "column": "tenure",
            "value": "twelve",
            "reason": f"{NOT_A_NUMBER} (column type long)",
        },
        {
            "row": 103,
            "column": "MonthlyCharges",
            "value": "-inf",
            "reason": f"{INFINITE} (column type double)",
        },
    ]


def test_one_row_with_two_bad_values_gives_two_rejects_in_signature_order() -> None:
    frame = chunk(tenure=["1", "x", "3"], MonthlyCharges=["1.5", "Infinity", "2"])
    checked = check_chunk(frame, COLUMNS, first_row=1)
    assert checked.good.tolist() == [True, False, True]
    assert checked.rejects[["row", "column"]].values.tolist() == [
        [2, "tenure"],
        [2, "MonthlyCharges"],
    ]


def test_blanks_and_missing_values_are_fine_and_numeric_text_is_parsed() -> None:
    # The Telco CSV writes " " for a new customer's TotalCharges; the pipeline imputes.
    frame = chunk(tenure=[" ", None, "  4 "], MonthlyCharges=["", "1e3", np.nan])
    checked = check_chunk(frame, COLUMNS, first_row=1)
    assert checked.good.all()
    assert checked.rejects.empty
    assert np.allclose(checked.inputs["tenure"], [np.nan, np.nan, 4.0], equal_nan=True)
    assert np.allclose(checked.inputs["MonthlyCharges"], [np.nan, 1000.0, np.nan], equal_nan=True)


@pytest.mark.parametrize(
    ("values", "not_number", "infinite"),
    [
        (pd.Series([1.0, np.inf, np.nan]), [False, False, False], [False, True, False]),
        (pd.Series([1, 2, 3]), [False] * 3, [False] * 3),
        (pd.Series([True, False]), [False] * 2, [False] * 2),
        (pd.Series(["1", "abc", "-inf", "1e999"]), [False, True, False, False], [0, 0, 1, 1]),
        (pd.Series([1, "x", None, 2.5], dtype=object), [False, True, False, False], [0] * 4),
        (pd.Series(["1,5", "3 4", "NaN?"]), [True, True, True], [0] * 3),
    ],
)
def test_numeric_values(values: pd.Series, not_number: list, infinite: list) -> None:
    _, bad_text, inf = numeric_values(values)
    assert bad_text.tolist() == not_number
    assert inf.tolist() == [bool(i) for i in infinite]


def test_text_columns_accept_anything() -> None:
    frame = chunk(Contract=[1.5, "inf", None])
    assert check_chunk(frame, COLUMNS, first_row=1).good.all()


def test_optional_column_may_be_absent() -> None:
    columns = [*COLUMNS, InputColumn("promo", "double", required=False)]
    check_columns(chunk().columns, columns, "--input x.csv")
    checked = check_chunk(chunk(), columns, first_row=1)
    assert checked.inputs["promo"].isna().all()


def test_missing_columns_are_all_named_with_suggestions() -> None:
    have = ["tenur", "Contract", "other"]
    with pytest.raises(DataError) as err:
        check_columns(have, COLUMNS, "--input new.csv")
    message = err.value.message
    assert message.startswith("--input new.csv: 2 columns the model needs are missing")
    assert "'tenure' (did you mean 'tenur'?)" in message
    assert "'MonthlyCharges'" in message
    assert "tenure, MonthlyCharges, Contract" in err.value.hint


def test_no_signature_falls_back_to_untyped_names() -> None:
    columns = input_columns([], ["a", "b"])
    assert [(c.name, c.type) for c in columns] == [("a", None), ("b", None)]
    checked = check_chunk(pd.DataFrame({"a": ["x"], "b": [np.inf]}), columns, first_row=1)
    assert checked.good.all()


@pytest.mark.parametrize(
    ("name", "fmt"), [("s.parquet", "parquet"), ("s.PQ", "parquet"), ("s.csv", "csv")]
)
def test_output_format_from_extension(name: str, fmt: str) -> None:
    assert output_format(Path(name)) == fmt


def test_unknown_output_extension_is_refused() -> None:
    with pytest.raises(DataError, match="--output: cannot tell the format of 'scores.txt'"):
        output_format(Path("scores.txt"))


def test_class_labels_for_column_names() -> None:
    assert [_label(c) for c in np.array([0.0, 1.0])] == ["0", "1"]
    assert [_label(c) for c in ["No", "Yes", True]] == ["No", "Yes", "True"]


SMALL = pa.schema([("a", pa.int64())])


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_atomic_writer_publishes_only_on_commit(tmp_path: Path, fmt: str) -> None:
    final = tmp_path / f"out.{fmt}"
    writer = AtomicTableWriter(final, fmt, SMALL)
    writer.write(pa.table({"a": [1, 2]}))
    writer.write(pa.table({"a": [3]}))
    assert not final.exists()  # only the hidden temporary file so far
    writer.commit()
    assert [p.name for p in tmp_path.iterdir()] == [final.name]
    read = pq.read_table(final) if fmt == "parquet" else pcsv.read_csv(final)
    assert read.column("a").to_pylist() == [1, 2, 3]


def test_atomic_writer_discard_leaves_nothing_and_keeps_an_old_file(tmp_path: Path) -> None:
    final = tmp_path / "out.parquet"
    final.write_text("previous result")
    writer = AtomicTableWriter(final, "parquet", SMALL)
    writer.write(pa.table({"a": [1]}))
    writer.discard()
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
    assert final.read_text() == "previous result"


def test_empty_result_still_has_a_header(tmp_path: Path) -> None:
    final = tmp_path / "out.csv"
    AtomicTableWriter(final, "csv", SMALL).commit()
    assert final.read_text().strip() == '"a"'


def test_summary_document() -> None:
    summary = BatchSummary(
        recipe="/r.yaml",
        model_name="churn",
        model_version=3,
        model_aliases=["champion"],
        tracking_uri="sqlite:///x.db",
        input_files=["/in.csv"],
        output="/out.parquet",
        output_format="parquet",
        rows_read=10,
        rows_scored=9,
        rows_rejected=1,
        rejects="/out.rejects.csv",
        seconds=1.234,
    )
    doc = summary.to_dict()
    assert doc["model"] == {"name": "churn", "version": 3, "aliases": ["champion"]}
    assert (doc["rows_read"], doc["rows_scored"], doc["rows_rejected"]) == (10, 9, 1)
    assert doc["seconds"] == 1.23 and doc["schema_version"] == 1
    assert doc["engine"] == "local" and doc["cluster"] is None


def test_output_targets_are_checked(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--output: folder .*/nope does not exist"):
        _check_target("--output", tmp_path / "nope" / "s.csv", overwrite=False)
    with pytest.raises(DataError, match="is a folder"):
        _check_target("--output", tmp_path, overwrite=True)
    existing = tmp_path / "s.csv"
    existing.write_text("x")
    with pytest.raises(DataError, match="already exists") as err:
        _check_target("--rejects", existing, overwrite=False)
    assert "--overwrite" in err.value.hint
    _check_target("--output", existing, overwrite=True)  # replacing is allowed
