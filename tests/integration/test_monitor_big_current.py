"""``mlctl monitor --current`` on a file over ``MLCTL_MAX_DATA_BYTES``: streamed in
chunks, so it is read (scored, with labels) rather than refused; a Parquet row group
over the limit, which pyarrow would decode whole, is refused. The limit is set small
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
        tmp_path_factory.mktemp("big-current"), 900, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def unseen() -> pd.DataFrame:
    return unseen_rows()


def monitor(project: Path, current: Path):
    args = ["--current", str(current), "--label-column", "Churn", "--json", "--no-mlflow"]
    return mlctl(project, "monitor", "recipes/churn.yaml", *args, env=LIMIT, timeout=300)


def test_a_current_file_over_the_limit_is_streamed(project, unseen, tmp_path) -> None:
    big = write(unseen, tmp_path / "big.parquet", 500)
    assert big.stat().st_size > 128 << 10  # and declares more uncompressed
    res = monitor(project, big)
    assert res.returncode in (ExitCode.OK, ExitCode.NOT_READY), res.stderr
    doc = json.loads(res.stdout)
    assert doc["source"]["kind"] == "file" and doc["source"]["rows"] == len(unseen)
    assert doc["performance"]["n_evaluated"] == len(unseen)


def test_a_row_group_over_the_limit_is_refused(project, unseen, tmp_path) -> None:
    whole = write(unseen, tmp_path / "one_group.parquet", len(unseen))
    res = monitor(project, whole)
    assert res.returncode == ExitCode.BAD_INPUT and res.stdout == ""
    assert f"--current: {whole} has a row group (number 1 of 1, 6,143 rows)" in res.stderr
    assert "more than the limit of 128.0 KiB (MLCTL_MAX_DATA_BYTES)" in res.stderr
    assert "smaller row groups" in res.stderr
