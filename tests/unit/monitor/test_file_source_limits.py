"""``MLCTL_MAX_DATA_BYTES`` and a --current file: a streamed read takes a file of any
size (it holds a chunk, or one Parquet row group, at a time); a read that holds the
whole file keeps the limit. The limit is set small here, as a user would set it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlctl.data.limits import ENV
from mlctl.errors import DataError
from mlctl.monitor.file_source import FileSource

pytestmark = pytest.mark.unit

ROWS = 20_000  # two float columns: 320,000 bytes, more than the limit
LIMIT = "100KiB"


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.random(ROWS), "y": rng.random(ROWS)})


def parquet(tmp_path: Path, group_rows: int) -> Path:
    path = tmp_path / "big.parquet"
    pq.write_table(pa.Table.from_pandas(frame(), preserve_index=False), path, group_rows)
    return path


@pytest.fixture(autouse=True)
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, LIMIT)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_streamed_read_takes_a_file_over_the_limit(tmp_path: Path, fmt: str) -> None:
    path = parquet(tmp_path, 2_000) if fmt == "parquet" else tmp_path / "big.csv"
    if fmt == "csv":
        frame().to_csv(path, index=False)
    assert path.stat().st_size > 100 << 10
    chunks = list(FileSource(path).iter_chunks(chunk_rows=5_000))
    assert sum(len(c) for c in chunks) == ROWS
    assert np.allclose(pd.concat(chunks)["x"], frame()["x"])
    if fmt == "parquet":
        batches = list(FileSource(path).iter_batches(chunk_rows=5_000))
        assert sum(b.num_rows for b in batches) == ROWS


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_reading_the_whole_file_into_memory_keeps_the_limit(tmp_path: Path, fmt: str) -> None:
    path = parquet(tmp_path, 2_000) if fmt == "parquet" else tmp_path / "big.csv"
    if fmt == "csv":
        frame().to_csv(path, index=False)
    with pytest.raises(DataError) as exc:
        FileSource(path).read()
    assert exc.value.message.startswith(f"--current: {path} ")
    assert f"more than the limit of 100.0 KiB ({ENV})" in exc.value.message
    assert ENV in exc.value.hint


def test_a_row_group_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = parquet(tmp_path, ROWS)  # one row group: pyarrow decodes it whole
    for read in (FileSource(path).iter_chunks, FileSource(path).iter_batches):
        with pytest.raises(DataError) as exc:
            next(iter(read()))
        message = exc.value.message
        assert message.startswith(f"--current: {path} has a row group (number 1 of 1, 20,000 rows)")
        assert f"more than the limit of 100.0 KiB ({ENV})" in message
        assert exc.value.hint.startswith("write it with smaller row groups")
        assert ENV in exc.value.hint


def test_only_the_columns_read_count_in_a_row_group(tmp_path: Path) -> None:
    path = parquet(tmp_path, ROWS // 2)  # 80,000 bytes a column and row group
    assert sum(len(c) for c in FileSource(path, columns=["x"]).iter_chunks()) == ROWS
    with pytest.raises(DataError, match="row group"):
        list(FileSource(path).iter_chunks())  # x and y: 160,000 bytes a row group
