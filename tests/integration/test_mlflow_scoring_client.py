"""``mlctl serve`` as MLflow's scoring server, checked with MLflow's own code.

- MLflow's client (``mlflow.pyfunc.scoring_server.client.ScoringServerClient``) waits
  for a real ``mlctl serve`` (``/ping``), reads ``/version`` and scores a DataFrame.
- Parity: the REAL ``mlflow models serve --env-manager local`` and ``mlctl serve`` serve
  the same registered model; the same requests (MLflow's JSON layouts, CSV, parquet and
  the usual bad inputs) go to both. Status, content type, ``error_code``, MLflow's
  top-level keys and, on 200, the whole answer must agree, except for the cases of the
  table "Differences from mlflow models serve" in docs/serving.md: the test reads that
  table and asserts that exactly its cases differ, with the statuses it shows. A new
  difference, or one that went away, fails.

One model is trained for the module; both servers start once, side by side.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from serve_helpers import FAST, ROW, Server, free_port

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "serving.md"
TABLE_HEADING = "### Differences from `mlflow models serve`"


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("mlflow-parity"), 600, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return root


class MlflowServer:
    """``mlflow models serve`` of ``models:/churn@champion``, in this environment."""

    def __init__(self, project: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / '.mlctl' / 'mlflow.db'}"
        # MLflow starts `uvicorn` from PATH: this environment's.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/churn@champion"]
            + ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)


def client(port: int):
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    return ScoringServerClient("127.0.0.1", port)


@pytest.fixture(scope="module")
def servers(project) -> Iterator[tuple[int, int]]:
    """(MLflow's port, mlctl's port), both waited for with MLflow's own client: the
    client polls ``/ping`` until it answers 200."""
    reference = MlflowServer(project)
    ours = Server(project, "recipes/churn.yaml")
    try:
        client(ours.port).wait_server_ready(timeout=120, scoring_server_proc=ours.proc)
        client(reference.port).wait_server_ready(timeout=120, scoring_server_proc=reference.proc)
        yield reference.port, ours.port
    finally:
        reference.stop()
        assert ours.stop() == 0, ours.output()
    assert "Traceback" not in ours.output()


# ------------------------------------------------------------ MLflow's client
def frame() -> pd.DataFrame:
    other = {**ROW, "customerID": "x-2", "tenure": 60, "Contract": "Two year"}
    return pd.DataFrame([ROW, other, {**ROW, "TotalCharges": " "}])


def test_mlflow_client_pings_reads_the_version_and_scores(servers) -> None:
    import mlflow

    mlflow_port, mlctl_port = servers
    ours, theirs = client(mlctl_port), client(mlflow_port)
    ours.ping()  # raises unless 200
    assert ours.get_version() == theirs.get_version() == mlflow.__version__
    answer = ours.invoke(frame())
    assert answer == theirs.invoke(frame())  # PredictionsResponse, a dict
    predictions = answer.get_predictions()
    assert isinstance(predictions, pd.DataFrame) and len(predictions) == 3
    assert set(predictions[0]) <= {"Yes", "No"}
    assert ours.invoke(frame(), params={"threshold": 0.2}) == answer  # params: ignored


def test_mlflow_client_sees_a_400_with_mlflow_keys(servers) -> None:
    _, mlctl_port = servers
    with pytest.raises(Exception, match=r"error code 400") as caught:
        client(mlctl_port).invoke(frame().drop(columns=["tenure"]))
    body = json.loads(str(caught.value).split("response: ", 1)[1].rstrip(")"))
    assert body["error_code"] == "BAD_REQUEST" and "'tenure'" in body["message"]
    assert body["mlctl_error_code"] == "INVALID_INPUT"
    assert body["details"][0] == {"row": 0, "column": "tenure", "message": "missing"}


# ------------------------------------------------------------------- parity
JSON = "application/json"
PARQUET = "application/vnd.apache.parquet"
OTHER = {**ROW, "customerID": "x-2", "tenure": 60, "Contract": "Two year", "TotalCharges": " "}
ROWS = [ROW, OTHER]
COLS = list(ROW)


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _records(*rows: dict) -> bytes:
    return _json({"dataframe_records": list(rows)})


def _literal(name: str, literal: str) -> bytes:
    """One row with a raw JSON literal (NaN, 1e309, a repeated key) as ``name``'s value."""
    text = json.dumps(ROW)
    old = f'"{name}": {json.dumps(ROW[name])}'
    return ('{"dataframe_records": [' + text.replace(old, f'"{name}": {literal}') + "]}").encode()


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.assign(TotalCharges=pd.to_numeric(df["TotalCharges"], errors="coerce")).to_parquet(buf)
    return buf.getvalue()


DF = pd.DataFrame(ROWS)
# case → (method, path, body, Content-Type or None for none at all)
CASES: dict[str, tuple[str, str, bytes, str | None]] = {
    "ping": ("GET", "/ping", b"", None),
    "version": ("GET", "/version", b"", None),
    "health": ("GET", "/health", b"", None),
    # MLflow's JSON layouts, CSV and parquet
    "split": ("POST", "/invocations", _json({"dataframe_split": DF.to_dict("split")}), JSON),
    "records": ("POST", "/invocations", _records(*ROWS), JSON),
    "instances_rows": ("POST", "/invocations", _json({"instances": ROWS}), JSON),
    "instances_columns": (
        "POST",
        "/invocations",
        _json({"instances": DF.to_dict("list")}),
        JSON,
    ),
    "inputs_rows": ("POST", "/invocations", _json({"inputs": ROWS}), JSON),
    "inputs_columns": ("POST", "/invocations", _json({"inputs": DF.to_dict("list")}), JSON),
    "params": (
        "POST",
        "/invocations",
        _json({"dataframe_records": ROWS, "params": {"threshold": 0.3}}),
        JSON,
    ),
    "charset": ("POST", "/invocations", _records(*ROWS), "application/json; charset=UTF-8"),
    "extra_column": ("POST", "/invocations", _records({**ROW, "Churn": "No", "x": 1}), JSON),
    "csv": ("POST", "/invocations", _csv(DF), "text/csv; charset=utf-8"),
    "parquet": ("POST", "/invocations", _parquet(DF), PARQUET),
    # bad input
    "malformed_json": ("POST", "/invocations", b'{"dataframe_records": [', JSON),
    "empty_body": ("POST", "/invocations", b"", JSON),
    "no_layout_key": ("POST", "/invocations", _json({"records": ROWS}), JSON),
    "two_layout_keys": ("POST", "/invocations", _json({"inputs": ROWS, "instances": ROWS}), JSON),
    "top_level_list": ("POST", "/invocations", _json(ROWS), JSON),
    "records_not_a_list": ("POST", "/invocations", _json({"dataframe_records": ROW}), JSON),
    "split_unknown_key": (
        "POST",
        "/invocations",
        _json({"dataframe_split": {**DF.to_dict("split"), "dtype": "x"}}),
        JSON,
    ),
    "split_short_row": (
        "POST",
        "/invocations",
        _json({"dataframe_split": {"columns": COLS, "data": [[1, 2]]}}),
        JSON,
    ),
    "missing_column": (
        "POST",
        "/invocations",
        _records({k: v for k, v in ROW.items() if k != "tenure"}),
        JSON,
    ),
    "empty_batch": ("POST", "/invocations", _records(), JSON),
    "null_number": ("POST", "/invocations", _records({**ROW, "tenure": None}), JSON),
    "text_for_number": ("POST", "/invocations", _records({**ROW, "tenure": "abc"}), JSON),
    "bool_for_number": ("POST", "/invocations", _records({**ROW, "tenure": True}), JSON),
    "object_for_number": ("POST", "/invocations", _records({**ROW, "tenure": {"a": 1}}), JSON),
    "huge_float": ("POST", "/invocations", _literal("MonthlyCharges", "1e309"), JSON),
    "huge_integer": ("POST", "/invocations", _literal("tenure", "9" * 30), JSON),
    "nan_literal": ("POST", "/invocations", _literal("MonthlyCharges", "NaN"), JSON),
    "repeated_key": ("POST", "/invocations", _literal("tenure", '1, "tenure": 2'), JSON),
    "csv_short_row": ("POST", "/invocations", _csv(DF) + b"7590-VHVEG,Female\n", "text/csv"),
    "csv_not_utf8": (
        "POST",
        "/invocations",
        _csv(DF).replace(b"Female", b"F\xe9male"),
        "text/csv",
    ),
    "csv_header_only": ("POST", "/invocations", ",".join(COLS).encode() + b"\n", "text/csv"),
    "parquet_malformed": ("POST", "/invocations", b"PAR1 not a parquet file", PARQUET),
    "parquet_missing_column": (
        "POST",
        "/invocations",
        _parquet(DF.drop(columns=["tenure"])),
        PARQUET,
    ),
    "type_in_capitals": ("POST", "/invocations", _records(*ROWS), "Application/JSON"),
    "text_plain": ("POST", "/invocations", _records(*ROWS), "text/plain"),
    "charset_latin1": (
        "POST",
        "/invocations",
        _records(*ROWS),
        "application/json; charset=latin-1",
    ),
    "unknown_parameter": (
        "POST",
        "/invocations",
        _records(*ROWS),
        "application/json; format=pandas-records",
    ),
    "no_content_type": ("POST", "/invocations", _records(*ROWS), None),
}


@dataclass
class Answer:
    status: int
    mime: str
    body: bytes

    @property
    def doc(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def keys(self) -> set[str]:
        return set(self.doc) if isinstance(self.doc, dict) else set()


def send(port: int, method: str, path: str, body: bytes, ctype: str | None) -> Answer:
    """One request, its headers exactly these (no default Content-Type added)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Length": str(len(body))} if method == "POST" else {}
        if ctype is not None:
            headers["Content-Type"] = ctype
        conn.request(method, path, body=body if method == "POST" else None, headers=headers)
        res = conn.getresponse()
        mime = (res.getheader("content-type") or "").split(";")[0].strip()
        return Answer(res.status, mime, res.read())
    finally:
        conn.close()


def agree(theirs: Answer, ours: Answer) -> bool:
    """The same answer for an MLflow client: status, content type, ``error_code``,
    MLflow's keys (``stack_trace`` aside: mlctl never sends one), the whole body on
    200 (a ``/health`` aside, whose bodies the table lists)."""
    if (theirs.status, theirs.mime) != (ours.status, ours.mime):
        return False
    if not theirs.keys - {"stack_trace"} <= ours.keys:
        return False
    if theirs.doc is not None and "error_code" in theirs.keys:
        return theirs.doc["error_code"] == ours.doc["error_code"]
    if theirs.status != 200:
        return True
    return theirs.body == ours.body if theirs.doc is None else theirs.doc == ours.doc


def documented_differences() -> dict[str, tuple[str, str]]:
    """case → (MLflow's answer, mlctl's answer), from the table in docs/serving.md."""
    text = DOC.read_text(encoding="utf-8")
    assert TABLE_HEADING in text, f"docs/serving.md lacks '{TABLE_HEADING}'"
    section = text.split(TABLE_HEADING, 1)[1]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\|\s*`([a-z0-9_]+)`\s*\|[^|]*\|([^|]*)\|([^|]*)\|", line)
        if match:
            rows[match.group(1)] = (match.group(2).strip(), match.group(3).strip())
        elif rows and not line.startswith("|"):
            break
    return rows


def shown(answer: Answer) -> str:
    """An answer as the table shows it: the status, and the type when not JSON."""
    return f"{answer.status}" + ("" if answer.mime == JSON else f" {answer.mime}")


@pytest.fixture(scope="module")
def answers(servers) -> dict[str, tuple[Answer, Answer]]:
    mlflow_port, mlctl_port = servers
    return {name: (send(mlflow_port, *c), send(mlctl_port, *c)) for name, c in CASES.items()}


def test_mlctl_answers_as_mlflow_models_serve_except_the_documented_cases(answers) -> None:
    table = documented_differences()
    assert set(table) <= set(CASES), f"the table names unknown cases: {set(table) - set(CASES)}"
    differ = {name for name, (theirs, ours) in answers.items() if not agree(theirs, ours)}
    report = {
        name: (shown(theirs), shown(ours), sorted(theirs.keys ^ ours.keys))
        for name, (theirs, ours) in answers.items()
        if name in differ ^ set(table)
    }
    assert differ == set(table), f"undocumented or vanished differences: {report}"
    for name in table:
        theirs, ours = answers[name]
        # The table's cells start with what each server answers (status, type if not JSON).
        assert table[name][0].startswith(shown(theirs)), (name, shown(theirs), table[name])
        assert table[name][1].startswith(shown(ours)), (name, shown(ours), table[name])


def test_mlctl_never_sends_a_trace_and_keeps_its_detail(answers) -> None:
    for name, (_, ours) in answers.items():
        assert ours.status < 500, (name, ours.body)
        assert b"Traceback" not in ours.body and "stack_trace" not in ours.keys, name
        if ours.status >= 400:
            doc = ours.doc
            assert doc["message"] == doc["error"] and doc["mlctl_error_code"], (name, doc)
            assert isinstance(doc["details"], list), name


def test_rows_mlflow_cannot_read_get_the_answer_of_their_records(answers) -> None:
    """MLflow's server turns ``instances`` / ``inputs`` into arrays this model cannot
    score; mlctl reads them as the rows they are, and answers as MLflow does for those
    rows sent as ``dataframe_records``."""
    reference = answers["records"][0]
    assert reference.status == 200
    for name in ("instances_rows", "instances_columns", "inputs_rows", "inputs_columns"):
        assert answers[name][1].doc == reference.doc, name
