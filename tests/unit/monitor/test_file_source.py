"""--current batch files: chunks, label and timestamp columns, windows, clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlctl.errors import DataError, UsageError
from mlctl.monitor.file_source import FileSource
from mlctl.monitor.window import Window

pytestmark = pytest.mark.unit

T0 = 1_714_521_600  # 2024-05-01T00:00:00Z


def batch(n: int = 25) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tenure": range(n),
            "contract": ["Month-to-month", "One year"] * (n // 2) + ["Two year"] * (n % 2),
            "churn": ["Yes", "No"] * (n // 2) + ["No"] * (n % 2),
            "when": pd.date_range("2024-05-01", periods=n, freq="h").strftime("%Y-%m-%dT%H:%M:%S"),
        }
    )


@pytest.fixture(params=["csv", "parquet"])
def fmt(request) -> str:
    return request.param


def write(tmp_path: Path, frame: pd.DataFrame, fmt: str) -> Path:
    path = tmp_path / f"batch.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def test_chunks_cover_every_row_once(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, batch(25), fmt)
    chunks = list(FileSource(path).iter_chunks(chunk_rows=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    whole = pd.concat(chunks, ignore_index=True)
    assert whole["tenure"].tolist() == list(range(25))


def test_timestamp_column_becomes_epoch_seconds_and_selects_a_window(
    tmp_path: Path, fmt: str
) -> None:
    path = write(tmp_path, batch(25), fmt)
    src = FileSource(path, label_column="churn", timestamp_column="when", columns=["tenure"])
    frame = src.read(Window(T0 + 3600 * 5, T0 + 3600 * 8))
    assert list(frame.columns) == ["tenure", "churn", "when"]
    assert frame["tenure"].tolist() == [5, 6, 7]
    assert frame["when"].tolist() == [T0 + 3600 * h for h in (5, 6, 7)]
    chunks = list(src.iter_chunks(Window(T0 + 3600 * 5, T0 + 3600 * 15), chunk_rows=8))
    assert [len(c) for c in chunks] == [3, 7]  # rows 5-7 of the first chunk, 8-14 of the second


def test_numeric_and_zoned_timestamps(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1, 2], "t": [T0, T0 + 60.5]})
    assert FileSource(write(tmp_path, frame, "csv"), timestamp_column="t").read()["t"].tolist() == [
        T0,
        T0 + 60.5,
    ]
    zoned = pd.DataFrame({"x": [1], "t": ["2024-05-01T02:00:00+02:00"]})
    path = write(tmp_path, zoned, "csv")
    assert FileSource(path, timestamp_column="t").read()["t"].tolist() == [T0]
    aware = pd.DataFrame({"x": [1], "t": pd.to_datetime(["2024-05-01T00:00:00Z"])})
    path = write(tmp_path, aware, "parquet")
    assert FileSource(path, timestamp_column="t").read()["t"].tolist() == [T0]


def test_bad_timestamp_names_line_and_value(tmp_path: Path) -> None:
    frame = batch(25)
    frame.loc[13, "when"] = "yesterday"
    path = write(tmp_path, frame, "csv")
    with pytest.raises(DataError, match=r"line 15: timestamp column 'when' holds 'yesterday'"):
        list(FileSource(path, timestamp_column="when").iter_chunks(chunk_rows=10))


def test_missing_columns_listed(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, batch(3), fmt)
    with pytest.raises(DataError, match=r"has no column 'label', 'ts' \(it has: tenure"):
        FileSource(path, label_column="label", timestamp_column="ts").read()


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("x.json", "{}", "cannot tell the format of 'x.json'"),
        ("empty.csv", "", r"is empty \(0 bytes\)"),
        ("broken.parquet", "not parquet", "cannot read .* as parquet"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        FileSource(path).read()


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--current: .*nope.csv does not exist"):
        FileSource(tmp_path / "nope.csv").read()
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        FileSource(tmp_path / "dir.csv").read()


def test_header_only_gives_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("a,b\n")
    assert list(FileSource(path).iter_chunks()) == []
    assert list(FileSource(path).read().columns) == ["a", "b"]


def test_window_needs_a_timestamp_column(tmp_path: Path) -> None:
    path = write(tmp_path, batch(3), "csv")
    with pytest.raises(UsageError, match="needs a timestamp column"):
        list(FileSource(path).iter_chunks(Window(0, 1)))
