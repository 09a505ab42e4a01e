"""How much a data file may hold once decompressed, checked before anything parses it.

A 3 MB ``.csv.gz`` can expand to gigabytes (a "gzip bomb"), and a Parquet footer can
claim any size. Every command that reads a data file whole (``run``, ``validate``,
``init``; ``monitor --current`` only for a retrain's comparison) first calls
:func:`check_size`:

* plain files: their size on disk;
* ``.gz``, ``.bz2``, ``.xz``, ``.zip``, ``.zst``, ``.tar*``: streamed through the
  decompressor in 1 MiB blocks and counted, keeping nothing, and stopped as soon as
  the count passes the limit (memory stays flat whatever the file expands to);
* Parquet: the uncompressed size its metadata declares for its row groups, or 8
  bytes per value of the rows and columns it declares, whichever is larger.

A command that streams a file (``predict --input``, ``monitor --current``) holds a
chunk of rows at a time, so the file's total size is not capped; but pyarrow decodes
a Parquet file one whole row group at a time, so :func:`check_row_groups` measures
each row group instead, and a CSV reader holds a whole line, so :func:`open_lines`
refuses a line over the limit as it is read.

The limit is ``MLCTL_MAX_DATA_BYTES`` (bytes, or with a unit: ``500MB``, ``4GiB``;
default 1 GiB), set by the person running mlctl, never by the recipe.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import re
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from mlctl.errors import DataError, UsageError

ENV = "MLCTL_MAX_DATA_BYTES"
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB
BLOCK = 1 << 20
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_TAR = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def max_bytes() -> int:
    """The limit on one data file's decompressed bytes (``MLCTL_MAX_DATA_BYTES``).

    Raises:
        UsageError: the variable is not a positive size.
    """
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", raw)
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _UNITS or float(m.group(1)) <= 0:
        raise UsageError(
            f"{ENV}={raw!r} is not a size",
            hint=f"give bytes or a size with a unit, e.g. {ENV}=4GiB or {ENV}=500MB",
        )
    return int(float(m.group(1)) * _UNITS[unit])


def _show(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def too_large(path: Path, what: str, limit: int, key: str = "data.source") -> DataError:
    """The error for a file over the limit: names it, the limit and how to raise it."""
    return DataError(
        f"{key}: {path} {what}, more than the limit of {_show(limit)} ({ENV})",
        hint=f"if the file is genuine, raise the limit, e.g. {ENV}={-(-limit * 4 // (1 << 30))}GiB",
    )


def _opener(path: Path) -> Callable[[], IO[bytes]] | None:
    name = path.name.lower()
    if name.endswith(".gz"):
        return lambda: gzip.open(path, "rb")
    if name.endswith(".bz2"):
        return lambda: bz2.open(path, "rb")
    if name.endswith(".xz"):
        return lambda: lzma.open(path, "rb")
    if name.endswith(".zst"):
        try:
            import zstandard
        except ImportError:  # pandas cannot read it either; it says so
            return None
        return lambda: zstandard.ZstdDecompressor().stream_reader(path.open("rb"))
    return None


def _count(stream: IO[bytes], limit: int, counted: int = 0) -> int:
    """Bytes read from ``stream``, stopping once past ``limit`` (nothing is kept)."""
    with stream:
        while counted <= limit:
            block = stream.read(BLOCK)
            if not block:
                break
            counted += len(block)
    return counted


def _archive_bytes(path: Path, limit: int) -> int | None:
    name = path.name.lower()
    if name.endswith(".zip"):
        counted = 0
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                counted = _count(archive.open(member), limit, counted)
                if counted > limit:
                    break
        return counted
    if name.endswith(_TAR):
        counted = 0
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                handle = archive.extractfile(member) if member.isfile() else None
                if handle is not None:
                    counted = _count(handle, limit, counted)
                if counted > limit:
                    break
        return counted
    return None


def check_size(path: Path, fmt: str, key: str = "data.source") -> None:
    """Refuse a data file that holds more than :func:`max_bytes` once decompressed.

    Raises:
        DataError: over the limit (naming the file, the limit and how to raise it),
            or a compressed file that does not decompress.
    """
    limit = max_bytes()
    if fmt == "parquet":
        _check_parquet(path, limit, key)
        return
    try:
        counted = _archive_bytes(path, limit)
        if counted is None:
            opener = _opener(path)
            counted = _count(opener(), limit) if opener else path.stat().st_size
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise DataError(f"{key}: cannot decompress {path}: {exc}") from None
    except Exception as exc:  # zstandard's own error type
        raise DataError(f"{key}: cannot decompress {path}: {exc}") from None
    if counted > limit:
        compressed = path.stat().st_size
        what = (
            f"holds more than {_show(limit)} decompressed (from {_show(compressed)} on disk)"
            if counted != compressed
            else f"is {_show(counted)}"
        )
        raise too_large(path, what, limit, key)


def _check_parquet(path: Path, limit: int, key: str) -> None:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception:  # a corrupt footer: the reader that follows names the problem
        return
    declared = sum(
        max(
            meta.row_group(i).total_byte_size,
            sum(
                meta.row_group(i).column(j).total_uncompressed_size
                for j in range(meta.row_group(i).num_columns)
            ),
        )
        for i in range(meta.num_row_groups)
    )
    # Dictionary/run-length encoding keeps "uncompressed" page sizes small for repeated
    # values; 8 bytes per declared value is what pandas will hold at least.
    declared = max(declared, meta.num_rows * meta.num_columns * 8)
    if declared > limit:
        raise too_large(
            path, f"declares {_show(declared)} uncompressed ({meta.num_rows} rows)", limit, key
        )


def check_row_groups(path: Path, columns: Sequence[str], key: str = "data.source") -> None:
    """Refuse a Parquet file with a row group too large to hold in memory.

    A streamed read needs no cap on the whole file: it holds a chunk of rows of a CSV
    file at a time, but a whole row group of a Parquet file (pyarrow decodes one at a
    time), so each row group is measured as it declares itself: the uncompressed bytes
    of ``columns`` (with their nested fields), or 8 bytes per value, whichever is
    larger, against :func:`max_bytes`. Any other file passes (give it Parquet files
    only).

    Raises:
        DataError: a row group over the limit (naming ``key``, the file, the row
            group, the limit and how to raise it).
    """
    import pyarrow.parquet as pq

    limit, wanted = max_bytes(), set(columns)
    try:
        meta = pq.ParquetFile(path).metadata
    except Exception:  # a corrupt footer: the reader that follows names the problem
        return

    def read(column_path: str) -> bool:  # a top-level column, or a field nested in one
        parts = column_path.split(".")
        return any(".".join(parts[:n]) in wanted for n in range(1, len(parts) + 1))

    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        parts = [group.column(j) for j in range(group.num_columns)]
        size = sum(c.total_uncompressed_size for c in parts if read(c.path_in_schema))
        size = max(size, group.num_rows * len(wanted) * 8)
        if size > limit:
            what = (
                f"has a row group (number {i + 1} of {meta.num_row_groups}, "
                f"{group.num_rows:,} rows), read whole, that declares {size:,} bytes "
                "uncompressed in the columns read"
            )
            error = too_large(path, what, limit, key=key)
            raise_it = error.hint.removeprefix("if the file is genuine, ") if error.hint else ""
            error.hint = f"write it with smaller row groups (row_group_size), or {raise_it}"
            raise error


class _LineBounded(io.RawIOBase):
    """A binary stream that refuses a line (bytes between line breaks) over a limit."""

    def __init__(self, raw: IO[bytes], path: Path, limit: int, key: str) -> None:
        self._raw, self._path, self._limit, self._key = raw, path, limit, key
        self._line = 0  # bytes of the line read so far

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        # Blocks of at most the limit: a line within a block is within the limit, so
        # only the lines running over a block's edges need counting.
        data = self._raw.read(min(len(buffer), self._limit))
        n = len(data)
        buffer[:n] = data
        breaks = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
        self._line += min(breaks) if breaks else n
        if self._line > self._limit:
            what = f"has a line (one row, read whole) not ended after {self._line:,} bytes"
            raise too_large(self._path, what, self._limit, self._key)
        if breaks:
            self._line = n - max(data.rfind(b"\n"), data.rfind(b"\r")) - 1
        return n

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._raw.close()
        super().close()


def open_lines(path: Path, key: str = "data.source") -> IO[bytes] | None:
    """A text data file's bytes (decompressed), for a reader that streams it, or
    ``None`` for a ``.zip`` or ``.tar*`` archive or a ``.zst`` file without zstandard
    (measure it whole with :func:`check_size` and let the reader open it).

    A streamed read holds a chunk of rows at a time, so the file's total size is not
    capped; but a reader holds at least one whole line, so a line longer than
    :func:`max_bytes` (a file of one endless line, or a "gzip bomb" of one) is refused
    as it is read: the stream raises once a line passes the limit.

    Raises:
        DataError: (while reading) a line over the limit, naming the file, the limit
            and how to raise it.
    """
    name = path.name.lower()
    opener = _opener(path)
    if name.endswith((".zip", *_TAR)) or (name.endswith(".zst") and opener is None):
        return None  # an archive, or zstandard missing (pandas says so)
    raw = opener() if opener else path.open("rb")
    return io.BufferedReader(_LineBounded(raw, path, max_bytes(), key), BLOCK)
