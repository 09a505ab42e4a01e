"""Data files are measured (decompressed) before anything parses them."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mlctl.data import limits
from mlctl.errors import DataError, UsageError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", 1 << 30), ("1000", 1000), ("500MB", 500 * 10**6), ("2GiB", 2 << 30), ("1.5 kib", 1536)],
)
def test_max_bytes(monkeypatch: pytest.MonkeyPatch, raw: str, expected: int) -> None:
    monkeypatch.setenv(limits.ENV, raw)
    assert limits.max_bytes() == expected


@pytest.mark.parametrize("raw", ["lots", "0", "-1", "5 parsecs"])
def test_bad_max_bytes(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(limits.ENV, raw)
    with pytest.raises(UsageError, match=limits.ENV):
        limits.max_bytes()


def test_gzip_over_the_limit_names_file_limit_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.csv.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"a\n" + b"0\n" * (3 << 20))
    monkeypatch.setenv(limits.ENV, "1MiB")
    with pytest.raises(DataError) as exc:
        limits.check_size(path, "csv")
    assert str(path) in exc.value.message and "1.0 MiB" in exc.value.message
    assert limits.ENV in exc.value.hint
    monkeypatch.setenv(limits.ENV, "8MiB")
    limits.check_size(path, "csv")  # under the limit: accepted


def test_corrupt_gzip_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DataError, match="cannot decompress"):
        limits.check_size(path, "csv")
