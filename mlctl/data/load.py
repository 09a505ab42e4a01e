"""Reading the recipe's data source: CSV or Parquet, one file or a glob."""

from __future__ import annotations

import glob
import hashlib
from pathlib import Path

import pandas as pd

from mlctl.data.limits import check_size
from mlctl.errors import DataError, MlctlError

#: The input formats mlctl reads, by extension: the one table (``init``, ``predict``,
#: ``import-recipe`` and ``monitor --current`` use it too).
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".txt": "csv"}


def source_files(source: Path) -> list[Path]:
    """The files a source path or glob names, sorted.

    Raises:
        DataError: nothing matches, or the path is a folder.
    """
    text = str(source)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"data.source: no file matches the glob '{text}'")
        return files
    if not source.exists():
        raise DataError(f"data.source: file not found: {source}")
    if source.is_dir():
        raise DataError(f"data.source: {source} is a folder; give a file or a glob like dir/*.csv")
    return [source]


def file_format(path: Path, declared: str) -> str:
    """``csv`` or ``parquet`` for a file, from the recipe or the extension."""
    if declared != "auto":
        return declared
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"data.source: cannot tell the format of '{path.name}' from its extension; "
            "set data.format to csv or parquet"
        )
    return fmt


def read_table(source: Path, fmt: str = "auto", sep: str = ",") -> tuple[pd.DataFrame, list[Path]]:
    """Read every file of a source into one frame.

    Raises:
        DataError: missing, unreadable, empty or header-only files, or files whose
            columns differ.
    """
    files = source_files(source)
    frames = []
    for f in files:
        frames.append(_read_one(f, file_format(f, fmt), sep))
    first = list(frames[0].columns)
    for f, frame in zip(files[1:], frames[1:], strict=True):
        if list(frame.columns) != first:
            missing = sorted(set(first) - set(frame.columns))
            extra = sorted(set(frame.columns) - set(first))
            raise DataError(
                f"data.source: {f} has different columns from {files[0]} "
                f"(missing: {missing or 'none'}; unexpected: {extra or 'none'})"
            )
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if df.empty:
        raise DataError(f"data.source: {source} has a header but no data rows")
    return df, files


def _read_one(path: Path, fmt: str, sep: str) -> pd.DataFrame:
    try:
        if path.stat().st_size == 0:
            raise DataError(f"data.source: {path} is empty (0 bytes)")
        check_size(path, fmt)  # before parsing: a gzip bomb is stopped at the limit
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep=sep, low_memory=False)
    except MlctlError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"data.source: {path} has no columns (empty file)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"data.source: cannot parse {path} as {fmt}: {first}") from None
    except OSError as exc:
        raise DataError(f"data.source: cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise DataError(f"data.source: cannot read {path} as {fmt}: {exc}") from None


def fingerprint(files: list[Path]) -> str:
    """SHA-256 over the bytes of the source files, in order (names excluded)."""
    h = hashlib.sha256()
    for f in files:
        with f.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
