"""``mlctl predict --input`` on a file over ``MLCTL_MAX_DATA_BYTES``: streamed in chunks,
so it is scored rather than refused; a Parquet row group over the limit, which pyarrow
would decode whole, is refused before anything is written. The limit is set small
through the environment (a 1 GiB file is not needed to show it)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from big_files import LIMIT, unseen_rows, write
from serve_helpers import FAST, mlctl

from mlctl.errors import ExitCode

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("big-input"), 900, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def unseen() -> pd.DataFrame:
    return unseen_rows()


def predict(project: Path, source: Path, output: Path):
    args = ["--input", str(source), "--output", str(output), "--json"]
    return mlctl(project, "predict", "recipes/churn.yaml", *args, env=LIMIT, timeout=300)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_input_over_the_limit_is_streamed(project, unseen, tmp_path, fmt) -> None:
    if fmt == "csv":
        big = tmp_path / "big.csv"
        unseen.to_csv(big, index=False)
    else:
        big = write(unseen, tmp_path / "big.parquet", 500)
    assert big.stat().st_size > 128 << 10
    out = tmp_path / "scores.parquet"
    res = predict(project, big, out)
    assert res.returncode == ExitCode.OK, res.stderr
    doc = json.loads(res.stdout)
    assert doc["rows_read"] == doc["rows_scored"] == len(unseen)
    scores = pd.read_parquet(out)
    assert scores["customerID"].tolist() == unseen["customerID"].tolist()
    assert set(scores["prediction"]) <= {"No", "Yes"}


def test_a_row_group_over_the_limit_is_refused(project, unseen, tmp_path) -> None:
    whole = write(unseen, tmp_path / "one_group.parquet", len(unseen))
    out = tmp_path / "scores.parquet"
    res = predict(project, whole, out)
    assert res.returncode == ExitCode.BAD_INPUT and res.stdout == "", res.stderr
    assert f"--input: {whole} has a row group (number 1 of 1, 6,143 rows)" in res.stderr
    assert "more than the limit of 128.0 KiB (MLCTL_MAX_DATA_BYTES)" in res.stderr
    assert "smaller row groups" in res.stderr and "MLCTL_MAX_DATA_BYTES=1GiB" in res.stderr
    assert not out.exists() and list(tmp_path.glob(".scores*")) == []
