"""Read a sample of a table and describe its columns: what kind each one is and why.

Kinds (what :func:`column_kind` returns):

- ``numeric``: numbers (also numbers stored as text with blanks, which need a coercion);
- ``categorical``: text, booleans or anything else with a manageable number of values;
- ``id``: a unique value per row (an identifier carries no signal and never generalises);
- ``constant``: one value (or none) in every row;
- ``high_cardinality``: text with so many distinct values that one-hot encoding would
  mostly learn noise;
- ``text``: free text (several words per value, mostly distinct);
- ``datetime``: dates or times (usable as a time split, not as a feature);
- ``infinite``: numbers with ``inf`` or ``-inf`` values, which no model can fit.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlctl.data.limits import check_size
from mlctl.data.load import SUFFIXES
from mlctl.errors import DataError, MlctlError
from mlctl.text import first_line

#: What ``mlctl init`` reads: what mlctl reads, and .tsv (it then writes the tab separator).
FORMATS = {**SUFFIXES, ".tsv": "csv"}
#: Compressed CSV files pandas reads (the compression comes from the last extension).
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}
#: Text read as "no value" when a numeric column is stored as text.
NA_TOKENS = {"", "na", "n/a", "nan", "null", "none", "?", "-", "--", "."}
DATE_PATTERN = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{4}-\d{2}|\d{8}T\d{4}")
ID_NAME = re.compile(r"(id|ids|uuid|guid|key|index)$|^unnamed", re.I)

#: Columns with more distinct values than this (or than half the rows) are dropped.
MAX_CATEGORIES = 100
#: From this many distinct values up, rare categories are grouped (min_frequency).
MANY_CATEGORIES = 20


@dataclass
class Table:
    """A sample of a file and what is known about the whole file."""

    frame: pd.DataFrame
    path: Path
    format: str
    separator: str
    rows_total: int  # exact for Parquet and fully read CSV files, else estimated from lines
    rows_exact: bool

    @property
    def sampled(self) -> bool:
        return len(self.frame) < self.rows_total or not self.rows_exact


@dataclass
class ColumnProfile:
    """Facts about one column of the sample, and the kind decided from them."""

    name: str
    dtype: str
    missing: int
    distinct: int
    kind: str = ""
    reason: str = ""
    coerce: str | None = None  # a data.coerce type the column needs
    coerce_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------ reading
def sample_format(path: Path) -> str:
    """``csv`` or ``parquet`` from the extension.

    Raises:
        DataError: the extension is neither.
    """
    fmt = FORMATS.get(_data_suffix(path))
    if fmt is None or (fmt == "parquet" and path.suffix.lower() in COMPRESSIONS):
        raise DataError(
            f"cannot tell the format of {path} from its extension '{_extension(path)}'",
            hint="mlctl init reads .csv, .txt, .tsv, .parquet and .pq files, and CSV "
            "files compressed as .gz, .bz2 or .xz (e.g. data.csv.gz)",
        )
    return fmt


def _extension(path: Path) -> str:
    """The extension as written, with its compression: ``.csv.gz``, ``.parquet``."""
    return "".join(path.suffixes[-2:]) if path.suffix.lower() in COMPRESSIONS else path.suffix


def _data_suffix(path: Path) -> str:
    """The extension that names the format: ``.csv`` for ``data.csv.gz``."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in COMPRESSIONS:
        return suffixes[-2]
    return suffixes[-1] if suffixes else ""


def read_sample(path: Path, sample_rows: int, separator: str | None = None) -> Table:
    """The first ``sample_rows`` rows of a CSV or Parquet file.

    Raises:
        DataError: the file is missing, a folder, empty, or cannot be parsed; the
            message names the file.
    """
    if any(ch in str(path) for ch in "*?["):
        raise DataError(
            f"{path} is a glob; mlctl init reads one CSV or Parquet file",
            hint=_one_file_hint(sorted(p for p in path.parent.glob(path.name) if p.is_file())),
        )
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _data_suffix(p) in FORMATS)
        raise DataError(
            f"{path} is a folder; mlctl init reads one CSV or Parquet file",
            hint=_one_file_hint(files),
        )
    fmt = sample_format(path)
    try:
        if path.stat().st_size == 0:
            raise DataError(f"cannot read {path}: the file is empty (0 bytes)")
        check_size(path, fmt, key="SOURCE")
        if separator is None and fmt != "parquet":
            separator = sniff_separator(path)
        if fmt == "parquet":
            table = _read_parquet(path, sample_rows)
        else:
            table = _read_csv(path, sample_rows, separator)
    except MlctlError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"cannot read {path}: no columns (empty file)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot read {path} as {fmt}: {first_line(exc)}") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        raise DataError(f"cannot read {path} as {fmt}: {first_line(exc)}") from None
    if table.frame.empty:
        raise DataError(f"cannot use {path}: it has a header but no data rows")
    table.frame.columns = [str(c) for c in table.frame.columns]
    return table


def _one_file_hint(files: list[Path]) -> str:
    """How to init from one file of a folder or glob, and run on all of them."""
    if not files:
        return "no .csv, .tsv, .txt, .parquet or .pq file is there"
    suffix = _extension(files[0])
    return (
        f"run mlctl init on one of its {len(files)} file(s), e.g. {files[0]}; then set "
        f"data.source to {files[0].parent}/*{suffix} in the recipe and mlctl run reads them all"
    )


def _read_csv(path: Path, sample_rows: int, separator: str) -> Table:
    frame = pd.read_csv(path, sep=separator, nrows=sample_rows + 1, low_memory=False)
    if len(frame.columns) == 1:
        other = _other_separator(str(frame.columns[0]), separator)
        if other:
            raise DataError(
                f"cannot use {path}: it reads as a single column '{frame.columns[0][:60]}'",
                hint=f"the values look separated by {other!r}: pass --sep {other!r}",
            )
    if len(frame) <= sample_rows:
        return Table(frame, path, "csv", separator, len(frame), True)
    frame = frame.head(sample_rows)
    return Table(frame, path, "csv", separator, _count_lines(path) - 1, False)


#: The field separators ``mlctl init`` recognises by itself, in order of preference.
SEPARATORS = (",", ";", "\t", "|")
SNIFF_BYTES = 64 * 1024
SNIFF_LINES = 50


def sniff_separator(path: Path) -> str:
    """The field separator of a CSV file, read off its first lines: of ``,`` ``;`` tab
    and ``|``, the one that splits every line (quotes respected) into the same number of
    fields, more than one, and the most of them; ties go to the earlier in that order.
    A file none of them splits so (one column) gets ``,`` (tab for ``.tsv``)."""
    import csv
    import io

    default = "\t" if _data_suffix(path) == ".tsv" else ","
    opener = COMPRESSIONS.get(path.suffix.lower())
    open_file = importlib.import_module(opener).open if opener else Path.open
    with open_file(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    text = head.decode("utf-8", "replace")
    if len(head) == SNIFF_BYTES:  # the last line may be cut: leave it out
        text = text.rsplit("\n", 1)[0]
    lines = [ln for ln in text.splitlines() if ln.strip()][:SNIFF_LINES]
    best, best_fields = default, 1
    for sep in (default, *[s for s in SEPARATORS if s != default]):
        try:
            counts = {len(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=sep)}
        except csv.Error:
            continue
        if len(counts) == 1 and (fields := counts.pop()) > best_fields:
            best, best_fields = sep, fields
    return best


def _other_separator(header: str, separator: str) -> str | None:
    for sep in (";", "\t", "|", ","):
        if sep != separator and sep in header:
            return sep
    return None


def _count_lines(path: Path) -> int:
    """Lines in a file (quoted line breaks count too, hence an estimate of rows)."""
    count = 0
    opener = COMPRESSIONS.get(path.suffix.lower())
    if opener:
        import importlib

        open_file = importlib.import_module(opener).open
    else:
        open_file = Path.open
    with open_file(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            count += block.count(b"\n")
    return count


def _read_parquet(path: Path, sample_rows: int) -> Table:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    total = pf.metadata.num_rows
    batch = next(pf.iter_batches(batch_size=sample_rows), None)
    frame = batch.to_pandas() if batch is not None else pf.schema_arrow.empty_table().to_pandas()
    return Table(frame, path, "parquet", ",", total, True)


# ------------------------------------------------------------------ columns
def profile_columns(frame: pd.DataFrame, exclude: set[str]) -> list[ColumnProfile]:
    """The kind of every column except ``exclude`` (the target), in file order."""
    rows = len(frame)
    out = []
    for name in frame.columns:
        if name in exclude:
            continue
        s = frame[name]
        p = ColumnProfile(
            name=name,
            dtype=str(s.dtype),
            missing=int(s.isna().sum()),
            distinct=int(s.nunique(dropna=True)),
        )
        p.kind, p.reason = column_kind(s, p, rows)
        out.append(p)
    return out


def column_kind(s: pd.Series, p: ColumnProfile, rows: int) -> tuple[str, str]:
    """The kind of a column and a one-line reason (see the module docstring)."""
    present = rows - p.missing
    if p.distinct <= 1:
        if present == 0:
            return "constant", "empty: no value in any row"
        return "constant", f"one value ({_show(s.dropna().iloc[0])}) in every row"
    if pd.api.types.is_bool_dtype(s):
        return "categorical", "true/false values"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime", "dates or times"
    if pd.api.types.is_numeric_dtype(s):
        return _infinite(s, s) or _numeric_kind(s, p, present)
    text = s.dropna().astype(str).str.strip()
    blanks = text[text.str.lower().isin(NA_TOKENS)]
    filled = text[~text.str.lower().isin(NA_TOKENS)]
    numbers = pd.to_numeric(filled, errors="coerce")
    if len(filled) and numbers.notna().all():
        infinite = _infinite(numbers, s)
        if infinite:
            return infinite
        p.coerce = "float"
        first = blanks.index[0] if len(blanks) else None
        example = f" (e.g. {_show(s[first])} at row {first + 1})" if first is not None else ""
        p.coerce_reason = (
            f"numbers stored as text; {len(blanks)} blank or NA value"
            f"{'' if len(blanks) == 1 else 's'} become missing{example}"
        )
        return "numeric", "numbers stored as text"
    if _looks_like_dates(filled):
        return "datetime", "dates or times stored as text"
    unique_share = p.distinct / max(present, 1)
    words = filled.str.split().str.len().mean() if len(filled) else 0.0
    if words >= 4 and (p.distinct > MANY_CATEGORIES or unique_share > 0.5):
        return "text", (
            f"free text (about {words:.0f} words per value, {p.distinct:,} distinct values); "
            "mlctl has no text features"
        )
    if p.distinct == present and present >= 20 and p.missing == 0:
        return "id", f"a different value in every row ({p.distinct:,} values), like an identifier"
    if p.distinct > MAX_CATEGORIES or unique_share > 0.5:
        return "high_cardinality", (
            f"{p.distinct:,} distinct values in {present:,} rows; one-hot encoding them "
            "would mostly learn noise"
        )
    return "categorical", f"{p.distinct} distinct values"


def _infinite(numbers: pd.Series, s: pd.Series) -> tuple[str, str] | None:
    """``infinite`` when a number is ±inf: mlctl run cannot scale or fit on it."""
    flags = np.isinf(numbers.to_numpy(dtype=float, na_value=np.nan))
    if not flags.any():
        return None
    first = numbers.index[flags][0]
    return "infinite", (
        f"{int(flags.sum())} infinite value{'' if flags.sum() == 1 else 's'} (e.g. "
        f"{_show(s[first])} at row {first + 1}), which models cannot use: replace them in "
        "the file to use this column"
    )


def _numeric_kind(s: pd.Series, p: ColumnProfile, present: int) -> tuple[str, str]:
    values = s.dropna()
    integral = pd.api.types.is_integer_dtype(s) or bool((values % 1 == 0).all())
    if integral and p.distinct == present and present >= 20 and p.missing == 0:
        steps = np.diff(values.to_numpy(dtype=float))
        if ID_NAME.search(p.name) or (len(steps) and (steps == 1).all()):
            return "id", (
                f"a different whole number in every row ({p.distinct:,} values), like a row "
                "number or identifier"
            )
    if p.distinct == 2:
        return "numeric", "two values (a 0/1 flag)"
    return "numeric", "numbers"


def _looks_like_dates(text: pd.Series) -> bool:
    """Most values look like dates (digits and separators) and parse as dates."""
    if text.empty:
        return False
    head = text.head(500)
    if head.str.contains(DATE_PATTERN).mean() < 0.95:
        return False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(head, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def _show(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)
