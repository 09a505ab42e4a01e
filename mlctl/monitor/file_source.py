"""A batch of production inputs from a CSV or Parquet file (``mlctl monitor --current``),
read in chunks; and how column names are shown in messages.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlctl.data.load import SUFFIXES
from mlctl.errors import DataError, UsageError
from mlctl.monitor.window import Window, check_chunk_rows
from mlctl.text import first_line


def shown_name(name: Any, most: int = 60) -> str:
    """A column name safe to print: as it is when short and printable, else its
    ``repr`` (control characters escaped), cut to ``most`` characters."""
    text = str(name)
    if text.isprintable() and text.strip() == text and text and len(text) <= most:
        return text
    return repr(text[:most]) + ("…" if len(text) > most else "")


def shown_names(names: Sequence[Any], most: int = 12) -> str:
    """The first ``most`` names (:func:`shown_name`) and how many more."""
    shown = ", ".join(shown_name(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def separator_hint(names: Sequence[str]) -> str | None:
    """A hint when a CSV header looks separated by something other than commas."""
    if len(names) == 1:
        for sep, word in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            parts = names[0].split(sep)
            if len(parts) > 1 and all(part.isprintable() for part in parts):
                return f"the header is one column separated by {word}: a CSV must use commas"
    return None


class FileSource:
    """A batch of production inputs from a CSV or Parquet file, read in chunks.

    Args:
        path: The file.
        label_column: A column of true labels, if the file has one (checked to exist).
        timestamp_column: A column of event times, if any: epoch seconds, or dates
            and times (ISO 8601; without a zone they are UTC). In the chunks it holds
            epoch seconds (float), and a window selects rows by it.
        columns: Read only these columns (plus the label and timestamp columns).
        sep: CSV field separator.
        dtype: CSV column types (as for ``pandas.read_csv``), so that every chunk
            types a column alike.
        option: How the user named the file, for messages ("--current").
    """

    def __init__(
        self,
        path: str | Path,
        label_column: str | None = None,
        timestamp_column: str | None = None,
        columns: Sequence[str] | None = None,
        sep: str = ",",
        dtype: dict[str, Any] | None = None,
        option: str = "--current",
    ) -> None:
        self.path = Path(path)
        self.label_column = label_column
        self.timestamp_column = timestamp_column
        self.columns = None if columns is None else list(columns)
        self.sep = sep
        self.dtype = dtype
        self.option = option

    @property
    def format(self) -> str:
        fmt = SUFFIXES.get(self.path.suffix.lower())
        if fmt is None:
            raise DataError(
                f"{self.option}: cannot tell the format of '{self.path.name}' from its extension",
                hint="use a .csv or .parquet file",
            )
        return fmt

    def header(self) -> list[str]:
        """The file's column names.

        Raises:
            DataError: the file is missing, empty, unreadable, or lacks a named column.
        """
        if not self.path.is_file():
            what = "is a folder" if self.path.is_dir() else "does not exist"
            raise DataError(f"{self.option}: {self.path} {what}")
        fmt = self.format
        if self.path.stat().st_size == 0:
            raise DataError(f"{self.option}: {self.path} is empty (0 bytes)")
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                names = list(pq.ParquetFile(self.path).schema_arrow.names)
            else:  # header=None: the names as written (pandas renames a repeated one)
                first = pd.read_csv(self.path, sep=self.sep, header=None, nrows=1, dtype=str)
                names = ["" if pd.isna(c) else str(c) for c in first.iloc[0]] if len(first) else []
        except Exception as exc:  # pandas and pyarrow raise many types for bad files
            raise DataError(
                f"{self.option}: cannot read {self.path} as {fmt}: {first_line(str(exc))}"
            ) from None
        self._check_names(names)
        wanted = self._wanted(names)
        missing = [c for c in wanted if c not in names]
        if missing:
            raise DataError(
                f"{self.option}: {self.path} has no column {', '.join(map(repr, missing))} "
                f"(it has: {shown_names(names, 30)})",
                hint=separator_hint(names),
            )
        return names

    def _check_names(self, names: list[str]) -> None:
        """A column named twice is refused: which one holds the inputs is a guess."""
        seen: dict[str, int] = {}
        for name in names:
            seen[name] = seen.get(name, 0) + 1
        twice = [n for n, k in seen.items() if k > 1]
        if twice:
            raise DataError(
                f"{self.option}: {self.path} has the column{'s' if len(twice) > 1 else ''} "
                f"{shown_names(twice)} more than once: which one holds the values is a guess",
                hint="rename or drop the repeated columns",
            )

    def _wanted(self, names: Sequence[str]) -> list[str]:
        base = list(names) if self.columns is None else list(self.columns)
        extra = [c for c in (self.label_column, self.timestamp_column) if c]
        return base + [c for c in extra if c not in base]

    def iter_chunks(
        self, window: Window | None = None, chunk_rows: int = 50_000
    ) -> Iterator[pd.DataFrame]:
        """The file's rows, ``chunk_rows`` at a time (those of ``window``, if given).

        Raises:
            DataError: unreadable file, missing column, a timestamp that does not
                parse (naming its row and value), a Parquet row group too large to hold
                (:meth:`check_row_groups`).
            UsageError: a window without a timestamp column.
        """
        check_chunk_rows(chunk_rows)
        if window is not None and not self.timestamp_column:
            raise UsageError(
                f"{self.option}: selecting a time window needs a timestamp column",
                hint="name the column of event times, or read the whole file",
            )
        wanted = self._wanted(self.header())
        self.check_row_groups(wanted)
        offset = 0
        try:
            for raw in self._raw_chunks(wanted, chunk_rows):
                chunk = raw.reset_index(drop=True)
                if self.timestamp_column:
                    ts = self._epoch_seconds(chunk[self.timestamp_column], offset)
                    chunk[self.timestamp_column] = ts
                    if window is not None:
                        keep = (ts >= window.start) & (ts < window.end)
                        chunk = chunk[keep].reset_index(drop=True)
                offset += len(raw)
                if len(chunk):
                    yield chunk
        except DataError:
            raise
        except Exception as exc:
            raise DataError(
                f"{self.option}: cannot read {self.path} as {self.format}: {first_line(exc)}"
            ) from None

    def iter_batches(self, chunk_rows: int = 50_000) -> Iterator[Any]:
        """A Parquet file's rows as Arrow record batches of the wanted columns (no time
        window: :meth:`iter_chunks` filters by time), never converted to pandas here.

        Raises:
            DataError: unreadable file, missing column, a row group too large to hold
                (:meth:`check_row_groups`).
        """
        check_chunk_rows(chunk_rows)
        wanted = self._wanted(self.header())
        self.check_row_groups(wanted)
        try:
            import pyarrow.parquet as pq

            with pq.ParquetFile(self.path) as reader:
                yield from reader.iter_batches(batch_size=chunk_rows, columns=wanted)
        except DataError:
            raise
        except Exception as exc:
            raise DataError(
                f"{self.option}: cannot read {self.path} as {self.format}: {first_line(exc)}"
            ) from None

    def check_row_groups(self, columns: Sequence[str]) -> None:
        """Refuse a Parquet file with a row group too large to hold in memory
        (:func:`mlctl.data.limits.check_row_groups`); a CSV file passes.

        Raises:
            DataError: a row group over the limit (naming the file, the row group, the
                limit and how to raise it).
        """
        if self.format != "parquet":
            return
        from mlctl.data.limits import check_row_groups

        check_row_groups(self.path, columns, key=self.option)

    def read(self, window: Window | None = None) -> pd.DataFrame:
        """The whole file (or ``window``) in one frame: unlike the streamed reads, held
        in memory whole, so the file must be within ``MLCTL_MAX_DATA_BYTES``.

        Raises:
            DataError: the file is over the limit (see :func:`mlctl.data.limits.check_size`),
                or as :meth:`iter_chunks`.
        """
        from mlctl.data.limits import check_size

        self.header()  # a missing or empty file is named before it is measured
        check_size(self.path, self.format, key=self.option)
        chunks = list(self.iter_chunks(window))
        if not chunks:
            return pd.DataFrame(columns=self._wanted(self.header()))
        return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)

    def _raw_chunks(self, wanted: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
        if self.format == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(self.path) as reader:
                for batch in reader.iter_batches(batch_size=chunk_rows, columns=wanted):
                    yield batch.to_pandas()
            return
        with pd.read_csv(
            self.path, sep=self.sep, usecols=wanted, dtype=self.dtype, chunksize=chunk_rows
        ) as reader:
            for chunk in reader:
                yield chunk[wanted]

    def _epoch_seconds(self, values: pd.Series, offset: int) -> np.ndarray:
        name = self.timestamp_column
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            out = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            if pd.api.types.is_datetime64_any_dtype(values):
                parsed = values
                if getattr(values.dt, "tz", None) is None:
                    parsed = values.dt.tz_localize("UTC")
            else:
                parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
            out = np.full(len(values), np.nan)
            ok = parsed.notna().to_numpy()
            out[ok] = (parsed[ok] - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
        bad = np.flatnonzero(~np.isfinite(out))
        if bad.size:
            i = int(bad[0])
            row = offset + i + (2 if self.format == "csv" else 1)
            where = f"line {row}" if self.format == "csv" else f"row {row}"
            raise DataError(
                f"{self.option}: {self.path} {where}: timestamp column '{name}' holds "
                f"{values.iloc[i]!r}, not a time ({bad.size} such rows in this chunk)",
                hint="use epoch seconds or ISO 8601 times (2024-05-01T12:00:00Z)",
            )
        return out
