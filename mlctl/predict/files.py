"""Chunked readers for the input and atomic, incremental writers for the output.

Memory stays bounded by the chunk size: CSV is read with ``pandas.read_csv(chunksize=)``
(a compressed one through its decompressor, as a stream too) and Parquet with
``ParquetFile.iter_batches``, which decodes one row group at a time. So an input file's
total size is not capped by ``MLCTL_MAX_DATA_BYTES``; what is held whole is: each
Parquet row group of the columns read (:func:`mlctl.data.limits.check_row_groups`,
before anything is read) and each CSV line (:func:`mlctl.data.limits.open_lines`, as
it is read). Outputs are written under a temporary name in the destination folder and
renamed only when complete, so a reader never sees a half-written file under the
final name.

For the Dask engine, :func:`plan_partitions` cuts each file into :class:`Partition`
s (CSV: byte ranges aligned to lines; Parquet: runs of row groups) of about a chunk
each, and :func:`read_partition` reads one of them on a worker with the same pandas
and pyarrow calls as the chunked readers, so both engines see the same values.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from mlctl.data.limits import check_row_groups, check_size, open_lines
from mlctl.data.load import SUFFIXES, file_format, source_files
from mlctl.errors import DataError, MlctlError
from mlctl.text import first_line

OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class InputFile:
    """One input file: its format, its header and (Parquet only) its row count."""

    path: Path
    format: str  # "csv" or "parquet"
    columns: list[str]
    rows: int | None  # None when it is not known without reading the file (CSV)
    id_type: Any = None  # pyarrow type of the id column in a Parquet file


def output_format(path: Path, option: str = "--output") -> str:
    """``parquet`` or ``csv`` from an output path's extension.

    Raises:
        DataError: any other extension.
    """
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{option}: cannot tell the format of '{path.name}' from its extension",
            hint="end the name in .parquet, .pq or .csv",
        )
    return fmt


def open_inputs(pattern: Path, declared: str, sep: str, id_column: str | None) -> list[InputFile]:
    """The files of ``--input`` (a file or a glob) with their headers, in name order.

    Args:
        pattern: The path or glob, already absolute.
        declared: The recipe's ``data.format``; used only for extensions that do
            not tell the format themselves.
        sep: CSV field separator.
        id_column: The recipe's id column, if any (its Parquet type is kept).

    Raises:
        DataError: nothing matches, a file is empty or unreadable.
    """
    try:
        files = source_files(pattern)
    except DataError as exc:
        # The shared reader speaks of the recipe's data.source; here it is --input.
        raise DataError(exc.message.replace("data.source", "--input", 1)) from None
    out = []
    for path in files:
        fmt = file_format(path, "auto" if path.suffix.lower() in SUFFIXES else declared)
        out.append(_header(path, fmt, sep, id_column))
    return out


def _header(path: Path, fmt: str, sep: str, id_column: str | None) -> InputFile:
    try:
        if path.stat().st_size == 0:
            raise DataError(f"--input: {path} is empty (0 bytes)")
        if fmt == "parquet":
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path)
            schema = meta.schema_arrow
            id_type = schema.field(id_column).type if id_column in schema.names else None
            return InputFile(path, fmt, list(schema.names), meta.metadata.num_rows, id_type)
        with _csv_stream(path) as target:
            columns = pd.read_csv(
                target, sep=sep, nrows=0, compression=_compression(target)
            ).columns
        return InputFile(path, fmt, [str(c) for c in columns], None)
    except MlctlError:
        raise
    except Exception as exc:  # pandas and pyarrow raise many types for unreadable files
        raise DataError(f"--input: cannot read {path} as {fmt}: {first_line(exc)}") from None


def read_chunks(
    source: InputFile, columns: Sequence[str], size: int, sep: str, id_column: str | None
) -> Iterator[pd.DataFrame]:
    """The wanted columns of one file, ``size`` rows at a time.

    CSV ids are read as text, so ``007`` stays ``007`` in the output.

    Raises:
        DataError: the file cannot be parsed (names the file and the cause), or a
            Parquet row group of ``columns`` is over ``MLCTL_MAX_DATA_BYTES`` (checked
            before the first chunk is read).
    """
    try:
        if source.format == "parquet":
            import pyarrow.parquet as pq

            check_row_groups(source.path, columns, key="--input")
            with pq.ParquetFile(source.path) as reader:
                for batch in reader.iter_batches(batch_size=size, columns=list(columns)):
                    yield batch.to_pandas()
            return
        with _csv_stream(source.path) as target:
            options = _csv_options(columns, sep, id_column)
            reader = pd.read_csv(
                target, chunksize=size, compression=_compression(target), **options
            )
            with reader:
                yield from reader
    except MlctlError:
        raise
    except Exception as exc:
        raise DataError(
            f"--input: cannot read {source.path} as {source.format}: {first_line(exc)}"
        ) from None


@contextlib.contextmanager
def _csv_stream(path: Path) -> Iterator[Any]:
    """The decompressed bytes of a CSV input, refusing a line over ``MLCTL_MAX_DATA_BYTES``
    (:func:`mlctl.data.limits.open_lines`); an archive (``.zip``, ``.tar*``), which
    pandas opens itself, is measured whole first and given as its path."""
    stream = open_lines(path, key="--input")
    if stream is None:
        check_size(path, "csv", key="--input")
        yield path
        return
    with stream:
        yield stream


def _compression(target: Any) -> str | None:
    return "infer" if isinstance(target, Path) else None


def _csv_options(columns: Sequence[str], sep: str, id_column: str | None) -> dict[str, Any]:
    """``pandas.read_csv`` arguments shared by the chunked reader and the partition reader."""
    dtype = {id_column: str} if id_column in columns else None
    # low_memory=False: one type per column and chunk, and no DtypeWarning about
    # mixed types (mixed columns are exactly what the checks look at).
    return {"sep": sep, "usecols": list(columns), "dtype": dtype, "low_memory": False}


@dataclass(frozen=True)
class Partition:
    """One piece of one input file, read on a Dask worker by :func:`read_partition`.

    CSV: the lines that *start* in bytes ``[start, stop)`` (the header line is added
    in front of every piece but the first). Parquet: row groups ``[start, stop)``.
    """

    path: str
    format: str
    columns: tuple[str, ...]
    start: int
    stop: int
    sep: str = ","
    id_column: str | None = None


#: Bytes of a CSV file read to estimate its row size.
SAMPLE_BYTES = 1 << 16


def plan_partitions(
    source: InputFile, columns: Sequence[str], rows: int, sep: str, id_column: str | None
) -> list[Partition]:
    """Cut one input file into partitions of about ``rows`` rows, in file order.

    CSV: byte ranges of ``rows`` times the average line size of the file's first
    64 KiB (lines are never split). Parquet: consecutive whole row groups adding up
    to at least ``rows`` rows (a row group is never split).

    Raises:
        DataError: a Parquet row group of ``columns`` is over ``MLCTL_MAX_DATA_BYTES``
            (a worker reads row groups whole).
    """
    cols = tuple(columns)
    path = str(source.path)
    if source.format == "parquet":
        import pyarrow.parquet as pq

        check_row_groups(source.path, columns, key="--input")
        meta = pq.ParquetFile(source.path).metadata
        parts, first, count = [], 0, 0
        for group in range(meta.num_row_groups):
            count += meta.row_group(group).num_rows
            if count >= rows:
                parts.append(Partition(path, "parquet", cols, first, group + 1))
                first, count = group + 1, 0
        if first < meta.num_row_groups or not parts:
            parts.append(Partition(path, "parquet", cols, first, meta.num_row_groups))
        return parts
    size = source.path.stat().st_size
    block = max(1, rows * _line_bytes(source.path))
    return [
        Partition(path, "csv", cols, start, min(start + block, size), sep, id_column)
        for start in range(0, max(size, 1), block)
    ]


def _line_bytes(path: Path) -> int:
    """Average bytes per data line in the first :data:`SAMPLE_BYTES` of a CSV file."""
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    lines = sample.count(b"\n") - 1  # minus the header
    if lines < 1:
        return max(1, len(sample))
    header = sample.index(b"\n") + 1
    last = sample.rindex(b"\n") + 1
    return max(1, round((last - header) / lines))


def read_line_block(fh: Any, start: int, stop: int) -> bytes:
    """The lines of an open binary file that start in bytes ``[start, stop)``."""
    if start > 0:
        fh.seek(start - 1)
        fh.readline()  # the rest of the line that began before ``start``
        start = fh.tell()
    if start >= stop:
        return b""
    fh.seek(start)
    data = fh.read(stop - start)
    if data and not data.endswith(b"\n"):
        data += fh.readline()  # finish the last line that starts before ``stop``
    return data


def read_partition(part: Partition) -> pd.DataFrame:
    """The wanted columns of one partition, as the chunked readers would give them.

    Raises:
        DataError: the file cannot be parsed (names the file and the cause).
    """
    import io

    try:
        if part.format == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(part.path) as reader:
                groups = list(range(part.start, part.stop))
                return reader.read_row_groups(groups, columns=list(part.columns)).to_pandas()
        with open(part.path, "rb") as fh:
            header = fh.readline()
            body = read_line_block(fh, part.start, part.stop)
        text = body if part.start == 0 else header + body
        options = _csv_options(part.columns, part.sep, part.id_column)
        return pd.read_csv(io.BytesIO(text), **options)
    except Exception as exc:
        raise DataError(
            f"--input: cannot read {part.path} as {part.format}: {first_line(exc)}"
        ) from None


class AtomicTableWriter:
    """Arrow tables appended to a Parquet or CSV file that appears only when complete.

    The data goes to a hidden temporary file in the destination folder (same file
    system, so the final rename is atomic); :meth:`commit` renames it, :meth:`discard`
    removes it. The file is opened on the first :meth:`write`.
    """

    def __init__(self, final: Path, fmt: str, schema: pa.Schema) -> None:
        self.final, self.format, self.schema = final, fmt, schema
        self.temp: Path | None = None
        self._writer: Any = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._open()
        self._writer.write_table(table)

    def _open(self) -> None:
        fd, name = tempfile.mkstemp(
            dir=self.final.parent, prefix=f".{self.final.name}.", suffix=".tmp"
        )
        os.close(fd)
        self.temp = Path(name)
        if self.format == "parquet":
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(self.temp, self.schema)
        else:
            import pyarrow.csv as pcsv

            self._writer = pcsv.CSVWriter(str(self.temp), self.schema)

    def commit(self) -> Path:
        """Close the file and give it its final name (replacing what was there)."""
        if self._writer is None:
            self.write(self.schema.empty_table())  # an empty result still has a header
        self._writer.close()
        self._writer = None
        # mkstemp makes the file private (0600); give it the permissions of a normal file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.temp, 0o666 & ~umask)
        os.replace(self.temp, self.final)
        self.temp = None
        return self.final

    def discard(self) -> None:
        """Close and remove the temporary file; the final name is left untouched."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)
            self.temp = None
