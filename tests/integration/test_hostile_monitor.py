"""``mlctl monitor`` on hostile and tiny inputs (issues 13 and 19), through the real CLI.

One quick model (``models=fast``, 700 Telco rows) promoted to champion for the whole
module; then each case is a ``--current`` file (or a tiny prediction log) built from
400 Telco rows the model never saw, monitored with ``--json --no-mlflow``. Every case
asserts the exit code of docs/monitoring.md's table, the note or error that names the
column, no traceback or warning in the output, and no column "drifted" on data that
is too small or unusable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import TELCO
from serve_helpers import FAST, mlctl

from mlctl.predlog import PredictionLog, rows_for

pytestmark = pytest.mark.integration

T0 = 1_714_521_600.0  # 2024-05-01T00:00:00Z
INPUTS_ONLY = "monitor.prediction_drift.enabled=false"  # the model is not even loaded
INPUTS_COUNT = 19
SEEN: dict[str, int] = {"cases": 0, "tracebacks": 0, "false_drift": 0}
BASELINE: set[str] = set()  # filled by the autouse fixture below


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    """The churn project (700 rows) with a promoted quick model, trained once for the
    session (conftest.trained_churn_project)."""
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("hostile_monitor"), 700, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """400 Telco rows after the 700 the model trained on, as a client has them."""
    raw = pd.read_csv(TELCO)
    return raw.iloc[2000:2400].reset_index(drop=True)


@pytest.fixture(autouse=True)
def _baseline(request) -> None:
    if "project" in request.fixturenames and not BASELINE:
        BASELINE.update(request.getfixturevalue("baseline") or {"<none>"})


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    doc: dict[str, Any] | None = None
    notes: str = ""
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)


def run(project: Path, *args: str) -> Outcome:
    res = mlctl(project, "monitor", "recipes/churn.yaml", *args, "--json", "--no-mlflow")
    out = Outcome(res.returncode, res.stdout, res.stderr)
    SEEN["cases"] += 1
    text = res.stdout + res.stderr
    if "Traceback" in text:
        SEEN["tracebacks"] += 1
    assert "Traceback" not in text, text[-3000:]
    assert "Warning" not in res.stderr, res.stderr[-3000:]  # no library warning leaks
    assert "\x00" not in text and "\x1b" not in text  # raw bytes of a file are escaped
    if res.stdout.strip():
        out.doc = json.loads(res.stdout)
        out.notes = "\n".join(out.doc["notes"])
        out.columns = {c["column"]: c for c in out.doc["drift"]["columns"]}
    return out


def write(path: Path, frame: pd.DataFrame, **kw: Any) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, **kw)
    else:
        frame.to_csv(path, index=False, **kw)
    return path


@pytest.fixture(scope="module")
def baseline(project, rows, tmp_path_factory) -> set[str]:
    """The columns that drift on the 400 rows as they are (a few, by chance: far from
    a dataset drift); a case may not add any but those it changed."""
    path = write(tmp_path_factory.mktemp("baseline") / "batch.csv", rows)
    out = run(project, "--current", str(path))
    assert out.code == 0 and out.doc["status"] == "healthy"
    drifted = {c for c, v in out.columns.items() if v["drifted"]}
    assert len(drifted) <= 3
    return drifted


def no_false_drift(out: Outcome, allowed: set[str] = frozenset()) -> None:
    """Nothing drifts on these 400 unseen rows but the columns the case changed."""
    assert out.doc is not None
    drifted = {c for c, v in out.columns.items() if v["drifted"]}
    allowed_drift = BASELINE | set(allowed)
    if not drifted <= allowed_drift:
        SEEN["false_drift"] += 1
    assert drifted <= allowed_drift, drifted
    for c in out.columns.values():
        assert c["drifted"] is False or c["status"] == "tested"


# ------------------------------------------------------------- unreadable files


def test_empty_file_exit_4(project, tmp_path) -> None:
    path = tmp_path / "batch.csv"
    path.write_bytes(b"")
    out = run(project, "--current", str(path))
    assert out.code == 4 and f"{path} is empty (0 bytes)" in out.stderr


def test_header_only_exit_7(project, rows, tmp_path) -> None:
    path = write(tmp_path / "batch.csv", rows.head(0))
    out = run(project, "--current", str(path))
    assert out.code == 7 and "has no rows (a header only)" in out.stderr
    assert out.stdout == ""


def test_a_folder_and_a_missing_file_exit_4(project, tmp_path) -> None:
    out = run(project, "--current", str(tmp_path))
    assert out.code == 4 and f"{tmp_path} is a folder" in out.stderr
    out = run(project, "--current", str(tmp_path / "nope.csv"))
    assert out.code == 4 and "nope.csv does not exist" in out.stderr


def test_corrupt_parquet_exit_4(project, tmp_path) -> None:
    path = tmp_path / "batch.parquet"
    path.write_bytes(b"PAR1" + b"\x00garbage" * 50)
    out = run(project, "--current", str(path))
    assert out.code == 4 and "cannot read" in out.stderr and "as parquet" in out.stderr


def test_binary_garbage_csv_exit_4_with_its_bytes_escaped(project, tmp_path) -> None:
    path = tmp_path / "batch.csv"
    path.write_bytes(bytes(range(256)) * 20)
    out = run(project, "--current", str(path))
    assert out.code == 4 and "has none of the 19 input columns" in out.stderr
    assert "\\x00\\x01" in out.stderr  # shown escaped, never written to the terminal


def test_semicolon_separated_csv_exit_4_says_so(project, rows, tmp_path) -> None:
    path = write(tmp_path / "batch.csv", rows, sep=";")
    out = run(project, "--current", str(path))
    assert out.code == 4 and "has none of the 19 input columns" in out.stderr
    assert "separated by semicolons: a CSV must use commas" in out.stderr


def test_none_of_the_input_columns_exit_4_names_them(project, tmp_path) -> None:
    path = write(tmp_path / "batch.csv", pd.DataFrame({"a": [1, 2], "b": [3, 4]}))
    out = run(project, "--current", str(path))
    assert out.code == 4 and "tenure" in out.stderr and "it has: a, b" in out.stderr


# ------------------------------------------------------------------ columns


def test_extra_columns_are_ignored_and_listed(project, rows, tmp_path) -> None:
    path = write(tmp_path / "batch.csv", rows.assign(foo=1, bar="x"))
    out = run(project, INPUTS_ONLY, "--current", str(path))
    assert out.code == 0 and out.doc["status"] == "healthy"
    assert {"foo", "bar", "customerID"} <= set(out.doc["drift"]["ignored_columns"])
    assert out.doc["drift"]["n_tested"] == INPUTS_COUNT
    no_false_drift(out)


def test_a_renamed_column_is_missing_and_named(project, rows, tmp_path) -> None:
    path = write(tmp_path / "batch.csv", rows.rename(columns={"tenure": "Tenure"}))
    out = run(project, "--current", str(path), "--label-column", "Churn")
    assert out.code == 0
    assert out.columns["tenure"]["status"] == "missing_column"
    assert "Tenure" in out.doc["drift"]["ignored_columns"]
    assert "lacks input columns tenure (missing_column)" in out.notes
    assert out.doc["prediction_drift"] is None and out.doc["performance"] is None
    no_false_drift(out)


def test_a_column_named_twice_exit_4(project, rows, tmp_path) -> None:
    text = rows.assign(tenure_again=rows["tenure"]).to_csv(index=False)
    path = tmp_path / "batch.csv"
    path.write_text(text.replace("tenure_again", "tenure", 1))
    out = run(project, "--current", str(path))
    assert out.code == 4 and "has the column tenure more than once" in out.stderr
    parquet = tmp_path / "batch.parquet"
    table = pa.Table.from_pandas(rows, preserve_index=False)
    pq.write_table(table.append_column("tenure", table["tenure"]), parquet)
    out = run(project, "--current", str(parquet))
    assert out.code == 4 and "has the column tenure more than once" in out.stderr


# -------------------------------------------------------------------- values


def test_numbers_stored_as_text_are_read_as_numbers(project, rows, tmp_path) -> None:
    path = write(tmp_path / "batch.parquet", rows.astype(str))  # every column text
    out = run(project, INPUTS_ONLY, "--current", str(path))
    assert out.code == 0 and out.doc["drift"]["n_tested"] == INPUTS_COUNT
    assert out.columns["tenure"]["cur_invalid"] == 0
    assert out.columns["MonthlyCharges"]["cur_invalid"] == 0
    no_false_drift(out)


def test_text_in_a_numeric_column_is_named_and_counted(project, rows, tmp_path) -> None:
    tenure = ["abc" if i % 4 == 0 else v for i, v in enumerate(rows["tenure"])]
    path = write(tmp_path / "batch.csv", rows.assign(tenure=tenure))
    out = run(project, INPUTS_ONLY, "--current", str(path))
    assert out.code == 0
    assert out.columns["tenure"]["cur_invalid"] == 100
    assert "column tenure: 100 values are not a number" in out.notes
    no_false_drift(out)


def test_an_all_nan_column_is_not_tested_and_not_scored(project, rows, tmp_path) -> None:
    path = write(tmp_path / "batch.csv", rows.assign(MonthlyCharges=np.nan))
    out = run(project, "--current", str(path), "--label-column", "Churn")
    assert out.code == 0
    assert out.columns["MonthlyCharges"]["status"] == "no_current_values"
    assert "column MonthlyCharges not tested (no_current_values)" in out.notes
    assert "no usable value in input columns MonthlyCharges" in out.notes
    assert out.doc["prediction_drift"] is None and out.doc["performance"] is None
    no_false_drift(out)


@pytest.mark.parametrize("share", ["some", "all"])
def test_infinities_are_missing_values(project, rows, tmp_path, share) -> None:
    n = 10 if share == "some" else len(rows)
    charges = rows["MonthlyCharges"].astype(float).to_numpy().copy()
    charges[:n] = [np.inf if i % 2 else -np.inf for i in range(n)]
    path = write(tmp_path / "batch.parquet", rows.assign(MonthlyCharges=charges))
    out = run(project, "--current", str(path))
    assert out.code == 0
    col = out.columns["MonthlyCharges"]
    assert col["cur_missing"] == n
    if share == "some":  # scored with the infinities as missing values
        assert col["status"] == "tested" and out.doc["prediction_drift"] is not None
    else:
        assert col["status"] == "no_current_values" and out.doc["prediction_drift"] is None
    no_false_drift(out)


def test_a_constant_column_is_a_real_drift_exit_3(project, rows, tmp_path) -> None:
    path = write(tmp_path / "batch.csv", rows.assign(Contract="Month-to-month"))
    out = run(project, "--current", str(path))
    assert out.code == 3 and out.doc["status"] == "attention"
    assert out.columns["Contract"]["drifted"] is True
    no_false_drift(out, {"Contract"})


def test_unseen_categories_are_named(project, rows, tmp_path) -> None:
    path = write(tmp_path / "batch.csv", rows.assign(PaymentMethod="Crypto"))
    out = run(project, INPUTS_ONLY, "--current", str(path))
    assert out.code in (0, 3)
    assert out.columns["PaymentMethod"]["new_categories"] == ["Crypto"]
    assert "categories never seen in training: PaymentMethod: Crypto" in out.notes


def test_huge_strings_are_cut_in_the_document(project, rows, tmp_path) -> None:
    gender = ["x" * 300_000 if i < 3 else g for i, g in enumerate(rows["gender"])]
    charges = ["9" * 5000 if i < 3 else v for i, v in enumerate(rows["MonthlyCharges"])]
    path = write(tmp_path / "batch.csv", rows.assign(gender=gender, MonthlyCharges=charges))
    out = run(project, INPUTS_ONLY, "--current", str(path))
    assert out.code == 0 and len(out.stdout) < 500_000
    (new,) = out.columns["gender"]["new_categories"]
    assert len(new) == 201 and new.endswith("…")
    assert "categories never seen in training: gender: 'xxxx" in out.notes
    assert (
        out.columns["MonthlyCharges"]["cur_invalid"] + out.columns["MonthlyCharges"]["cur_missing"]
        == 3
    )
    no_false_drift(out, {"gender"})  # 3 unseen categories in a 2-category column: real


def test_a_parquet_of_another_schema(project, rows, tmp_path) -> None:
    """Nested lists, a timestamp and booleans where the model reads numbers and text."""
    frame = rows.assign(
        tenure=[[1, 2]] * len(rows),
        MonthlyCharges=pd.Timestamp("2024-01-01"),
        SeniorCitizen=rows["SeniorCitizen"].astype(bool),
    )
    path = tmp_path / "batch.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    out = run(project, "--current", str(path))
    assert out.code in (0, 3)
    for name in ("tenure", "MonthlyCharges"):
        assert out.columns[name]["status"] == "no_current_values"
        assert f"column {name}: 400 values are not a number" in out.notes
    assert out.doc["prediction_drift"] is None  # not scored on imputed columns
    no_false_drift(out, {"SeniorCitizen"})  # True/False are not the trained 0/1


# ------------------------------------------------------------------ too little


@pytest.mark.parametrize("n", [1, 3, 29])
def test_a_few_rows_are_not_enough_data_exit_0(project, rows, tmp_path, n) -> None:
    path = write(tmp_path / "batch.csv", rows.head(n))
    out = run(project, "--current", str(path), "--label-column", "Churn")
    assert out.code == 0 and out.doc["status"] == "not_enough_data"
    assert out.doc["drift"]["n_drifted"] == 0 and out.doc["drift"]["n_tested"] == 0
    assert all(c["status"] == "not_enough_data" for c in out.columns.values())
    assert all(not c["drifted"] for c in out.doc["prediction_drift"]["columns"])
    assert out.doc["performance"]["status"] == "not_enough_labels"
    assert "monitor.drift.min_rows.p_value" in out.notes


def test_a_log_window_with_one_row(project, rows, tmp_path) -> None:
    log = tmp_path / "predictions.db"
    writer = PredictionLog(f"sqlite:///{log}")
    writer.open()
    try:
        record = rows.drop(columns=["Churn"]).iloc[0].to_dict()
        batch = rows_for(
            ["r1-0"], "r1", T0 + 60, "churn", 1, "champion", [record], ["No"], [0.2],
            [{"No": 0.8, "Yes": 0.2}], 3.0,
        )  # fmt: skip
        writer.write(batch).result(timeout=60)
    finally:
        writer.close()
    out = run(
        project, f"deploy.serve.log.url='sqlite:///{log}'", "--window", "1h",
        "--end", str(int(T0 + 3600)),
    )  # fmt: skip
    assert out.code == 0 and out.doc["status"] == "not_enough_data"
    assert out.doc["source"]["rows"] == 1 and out.doc["drift"]["n_drifted"] == 0
    assert out.doc["volume"]["status"] == "not_enough_history"
    assert "not enough data to judge 1 row" in out.notes


# -------------------------------------------------------------------- labels


LABELS: dict[str, tuple[Callable[[pd.Series], Any], str]] = {
    "numbers_for_classes": (
        lambda s: (s == "Yes").astype(int),
        "400 labels match no class ('0', '1')",
    ),
    "junk_text": (lambda s: "maybe", "400 labels match no class ('maybe')"),
    "one_class": (lambda s: "No", "all 400 labels are the class 'No'"),
    "all_missing": (lambda s: np.nan, "0 of 400 predictions labelled"),
}


@pytest.mark.parametrize("case", list(LABELS))
def test_labels_that_cannot_be_judged(project, rows, tmp_path, case) -> None:
    make, message = LABELS[case]
    path = write(tmp_path / "batch.csv", rows.assign(Churn=make(rows["Churn"])))
    out = run(project, "--current", str(path), "--label-column", "Churn")
    assert out.code == 0, out.stderr
    perf = out.doc["performance"]
    assert perf["status"] == "not_enough_labels" and not perf["flagged"]
    assert message in perf["message"]
    no_false_drift(out)


def test_figures() -> None:
    """Runs last in the module: what the cases above saw."""
    print(f"\nhostile monitor figures: {SEEN}")
    assert SEEN["tracebacks"] == 0 and SEEN["false_drift"] == 0
