"""``MLCTL_MAX_DATA_BYTES`` and ``predict --input``: the input is streamed (a chunk of
rows at a time, a compressed CSV through its decompressor), so a file over the limit is
read; a Parquet row group of the columns read over the limit, which pyarrow decodes
whole, is refused before anything is read, by either engine. The limit is set small
here, as a user would set it."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlctl.data.limits import ENV
from mlctl.errors import DataError
from mlctl.predict.files import open_inputs, plan_partitions, read_chunks

pytestmark = pytest.mark.unit

ROWS = 20_000  # two float columns: 320,000 bytes, more than the limit
LIMIT = "100KiB"


def frame(rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.random(rows), "y": rng.random(rows)})


def parquet(tmp_path: Path, group_rows: int) -> Path:
    path = tmp_path / "big.parquet"
    pq.write_table(pa.Table.from_pandas(frame(), preserve_index=False), path, group_rows)
    return path


def read_all(path: Path, columns=("x", "y"), declared: str = "auto") -> pd.DataFrame:
    (source,) = open_inputs(path, declared, ",", None)
    return pd.concat(read_chunks(source, list(columns), 5_000, ",", None), ignore_index=True)


@pytest.fixture(autouse=True)
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, LIMIT)


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_an_input_over_the_limit_is_streamed(tmp_path: Path, fmt: str) -> None:
    if fmt == "parquet":
        path = parquet(tmp_path, 2_000)  # 32,000 bytes a row group
    else:
        path = tmp_path / f"big.{fmt}"
        frame().to_csv(path, index=False)  # pandas compresses a .gz name
    data = path.read_bytes()
    assert len(gzip.decompress(data) if fmt == "csv.gz" else data) > 100 << 10
    got = read_all(path, declared="csv" if fmt == "csv.gz" else "auto")
    assert len(got) == ROWS
    assert np.allclose(got["x"], frame()["x"])


def test_a_compressed_csv_is_decompressed_as_a_stream(tmp_path: Path) -> None:
    """The first chunk comes out of a .csv.gz whose end is cut off: pandas decompresses
    as it parses, it does not inflate the whole file first (which would fail here)."""
    whole = tmp_path / "whole.csv.gz"
    frame(200_000).to_csv(whole, index=False)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    (source,) = open_inputs(cut, "csv", ",", None)
    chunks = read_chunks(source, ["x", "y"], 1_000, ",", None)
    first = next(chunks)
    assert np.allclose(first["x"], frame(1_000)["x"])
    with pytest.raises(DataError, match=f"--input: cannot read {cut} as csv"):
        list(chunks)


def test_a_row_group_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = parquet(tmp_path, ROWS)  # one row group: pyarrow decodes it whole
    (source,) = open_inputs(path, "auto", ",", None)  # the header is still read
    assert source.rows == ROWS
    refusals = [
        lambda: next(read_chunks(source, ["x", "y"], 5_000, ",", None)),
        lambda: plan_partitions(source, ["x", "y"], 5_000, ",", None),  # dask's workers
    ]
    for refuse in refusals:
        with pytest.raises(DataError) as exc:
            refuse()
        message = exc.value.message
        assert message.startswith(f"--input: {path} has a row group (number 1 of 1, 20,000 rows)")
        assert "bytes uncompressed in the columns read, more than the limit" in message
        assert f"more than the limit of 100.0 KiB ({ENV})" in message
        assert exc.value.hint.startswith("write it with smaller row groups (row_group_size)")
        assert f"{ENV}=1GiB" in exc.value.hint


def test_only_the_columns_read_count_in_a_row_group(tmp_path: Path) -> None:
    path = parquet(tmp_path, ROWS // 2)  # 80,000 bytes a column and row group
    assert len(read_all(path, columns=["x"])) == ROWS
    with pytest.raises(DataError, match="row group"):
        read_all(path)  # x and y: 160,000 bytes a row group


@pytest.mark.parametrize("name", ["line.csv", "line.csv.gz", "header.csv.gz"])
def test_a_line_over_the_limit_is_refused_as_it_is_read(tmp_path: Path, name: str) -> None:
    """A row is held whole: a line longer than the limit (a "gzip bomb" of one line of a
    few hundred MB would fit in a few hundred KB) is refused once the limit is passed."""
    path = tmp_path / name
    endless = b"0" * (300 << 10)
    text = endless + b",0\n" if name.startswith("header") else b"x,y\n1,2\n" + endless + b",0\n"
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    with pytest.raises(DataError) as exc:
        read_all(path, declared="csv")
    message = exc.value.message
    assert message.startswith(f"--input: {path} has a line (one row, read whole) not ended after")
    assert f"more than the limit of 100.0 KiB ({ENV})" in message
    assert f"{ENV}=1GiB" in exc.value.hint


@pytest.mark.parametrize("suffix", [".csv.zip", ".csv.tar.gz"])
def test_an_archive_is_measured_whole(tmp_path: Path, suffix: str) -> None:
    """pandas opens a .zip or .tar* itself: it is measured whole before it is read."""
    small, big = tmp_path / f"small{suffix}", tmp_path / f"big{suffix}"
    frame(1_000).to_csv(small, index=False)
    frame().to_csv(big, index=False)
    assert len(read_all(small, declared="csv")) == 1_000
    with pytest.raises(DataError, match=f"--input: {big} holds more than 100.0 KiB decompressed"):
        read_all(big, declared="csv")
