"""What the drift tests need from current data, summed up chunk by chunk in bounded memory.

A window of 10M rows never sits in memory: each chunk is read as the profile says
(:func:`~mlctl.monitor.profile.read_numeric`, :func:`~mlctl.monitor.profile.read_categories`)
and folded into one summary per column, which the drift tests then read
(:mod:`mlctl.monitor.drift`). Summaries merge (``merge``), so partitions summed up on
Dask workers give the summary of the whole, whatever the chunking.

* :class:`NumericSummary`: the distinct finite values and their counts (sorted), plus
  the missing and invalid counts. Every test reads the current column only through its
  CDF, which these give exactly: results equal those on the raw column. Memory is
  16 bytes per distinct value, at most :data:`MAX_DISTINCT` of them: past that, values
  are rounded to ``bits`` significant binary digits (the midpoint of their bucket; each
  value moves by at most ``2**-bits`` of itself, :attr:`NumericSummary.rel_error`), with
  ``bits`` lowered by 4 from :data:`FIRST_BITS` until the distinct count fits. Buckets of
  fewer bits hold whole buckets of more bits, so the result does not depend on the order
  or chunking of the rows (docs/monitoring.md, "Bounded memory", states the bounds).
* :class:`CategorySummary`: counts per category (the text the model reads), missing
  apart: memory grows with the number of distinct categories, never with rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlctl.monitor.profile import (
    CategoryValues,
    categories_of,
    hashes_safely,
    read_categories,
    read_numeric,
)

MAX_DISTINCT = 131_072  # distinct values a numeric summary keeps exactly (16 B each)
FIRST_BITS = 16  # significant bits of the first rounding (relative error 2**-16)
BITS_STEP = 4
_PENDING = 4  # merge pending chunks once they hold this many times MAX_DISTINCT values


def round_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """Each value replaced by the midpoint of its bucket of ``bits`` significant binary
    digits (truncated mantissa + half a unit): moves it by at most ``2**-bits`` of
    itself, keeps 0 and the sign, and ``round_bits(round_bits(x, a), b) ==
    round_bits(x, b)`` for ``b <= a``."""
    mant, exp = np.frexp(values)
    scale = float(2**bits)
    mid = (np.trunc(mant * scale) + 0.5 * np.sign(mant)) / scale
    return np.ldexp(mid, exp)


def _unique_sorted(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(s) == 0:
        return s, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return s[starts], np.diff(np.r_[starts, len(s)]).astype(np.int64)


class NumericSummary:
    """A numeric column's finite values as sorted distinct values with counts (see the
    module docstring), and its missing and invalid counts."""

    kind = "numeric"

    def __init__(self, coerce: str = "float", max_distinct: int = MAX_DISTINCT) -> None:
        self.coerce = coerce
        self.max_distinct = int(max_distinct)
        self.missing = 0
        self.invalid = 0
        self.bits: int | None = None  # None: exact
        self._values = np.zeros(0, dtype=np.float64)
        self._counts = np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_size = 0

    # ------------------------------------------------------------------ adding
    def add(self, series: Any) -> None:
        """Fold in one chunk of raw values (read as the profile's ``coerce`` says)."""
        if not isinstance(series, pd.Series):
            series = pd.Series(np.asarray(series))
        read = read_numeric(series, self.coerce)
        self.missing += read.missing
        self.invalid += read.invalid
        self.add_sorted(read.sorted)

    def add_sorted(self, s: np.ndarray) -> None:
        """Fold in sorted finite values."""
        if self.bits is not None:
            s = round_bits(s, self.bits)  # monotone: still sorted
        values, counts = _unique_sorted(s)
        self._push(values, counts)

    def merge(self, other: NumericSummary) -> None:
        """Fold in another summary of the same column."""
        self.missing += other.missing
        self.invalid += other.invalid
        values, counts = other.distinct()
        if other.bits is not None and (self.bits is None or other.bits < self.bits):
            self._coarsen_to(other.bits)
        if self.bits is not None and other.bits != self.bits:
            values = round_bits(values, self.bits)
        self._push(values, counts)

    def _push(self, values: np.ndarray, counts: np.ndarray) -> None:
        if not len(values):
            return
        self._pending.append((values, counts))
        self._pending_size += len(values)
        if self._pending_size > _PENDING * self.max_distinct:
            self._compact()

    def _compact(self) -> None:
        if not self._pending:
            return
        values = np.concatenate([self._values, *(v for v, _ in self._pending)])
        counts = np.concatenate([self._counts, *(c for _, c in self._pending)])
        self._pending, self._pending_size = [], 0
        self._values, self._counts = _sum_by_value(values, counts)
        while len(self._values) > self.max_distinct:
            self._coarsen_to(FIRST_BITS if self.bits is None else self.bits - BITS_STEP)

    def _coarsen_to(self, bits: int) -> None:
        bits = max(1, bits)
        if self.bits is not None and bits >= self.bits:
            return
        self.bits = bits
        self._compact_pending_rounded()
        self._values, self._counts = _sum_by_value(round_bits(self._values, bits), self._counts)

    def _compact_pending_rounded(self) -> None:
        self._pending = [(round_bits(v, self.bits), c) for v, c in self._pending]

    # ------------------------------------------------------------------ reading
    def distinct(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted distinct values (rounded when :attr:`bits` is set) and their counts."""
        self._compact()
        return self._values, self._counts

    @property
    def count(self) -> int:
        """Finite values seen."""
        return int(self.distinct()[1].sum())

    @property
    def rows(self) -> int:
        """Values seen: finite, missing and invalid."""
        return self.count + self.missing + self.invalid

    @property
    def exact(self) -> bool:
        return self.bits is None

    @property
    def rel_error(self) -> float | None:
        """The most any value was moved, relative to itself (None: exact)."""
        return None if self.bits is None else 2.0**-self.bits

    def nbytes(self) -> int:
        return int(self._values.nbytes + self._counts.nbytes) + sum(
            v.nbytes + c.nbytes for v, c in self._pending
        )

    def __getstate__(self) -> dict[str, Any]:  # sent from Dask workers compacted
        self._compact()
        return self.__dict__.copy()


def _sum_by_value(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(values):
        return values.astype(np.float64), counts.astype(np.int64)
    keys, inverse = np.unique(values, return_inverse=True)
    return keys, np.bincount(inverse, weights=counts, minlength=len(keys)).astype(np.int64)


class CategorySummary:
    """A categorical column's counts per category (text, as the model reads it).

    Chunks are counted by raw value (cheap); each distinct raw value is read as a
    category once, at the end (:func:`~mlctl.monitor.profile.categories_of`). A chunk
    whose raw values do not hash safely (``True`` and ``1`` in one object column) is
    read value by value at once, as :func:`read_categories` reads it.
    """

    kind = "categorical"

    def __init__(self, coerce: str = "category") -> None:
        self.coerce = coerce
        self.missing = 0
        self._raw: dict[tuple[str, Any], int] = {}  # (type name, raw value) -> count
        self._texts: dict[str, int] = {}  # categories already read
        self._read: CategoryValues | None = None

    def add(self, series: Any) -> None:
        if not isinstance(series, pd.Series):
            series = pd.Series(np.asarray(series, dtype=object), dtype=object)
        self._read = None
        if not hashes_safely(series):
            read = read_categories(series, self.coerce)
            self.add_counts(read.counts, read.missing)
            return
        missing = series.isna()
        n_missing = int(missing.sum())
        self.missing += n_missing
        counts = (series[~missing] if n_missing else series).value_counts(sort=False)
        raw = self._raw
        for key, n in zip(counts.index.tolist(), counts.to_numpy().tolist(), strict=True):
            if n:
                k = (type(key).__name__, key)
                raw[k] = raw.get(k, 0) + n

    def add_arrow_text(self, array: Any) -> None:
        """Fold in an Arrow string array: its values counted by Arrow (the same counts
        as :meth:`add` of the pandas column, without converting it)."""
        import pyarrow.compute as pc

        self._read = None
        self.missing += array.null_count
        counted = pc.value_counts(array)
        raw = self._raw
        values = counted.field("values").to_pylist()
        for key, n in zip(values, counted.field("counts").to_pylist(), strict=True):
            if key is not None:
                k = ("str", key)
                raw[k] = raw.get(k, 0) + n

    def add_counts(self, counts: dict[str, int], missing: int = 0) -> None:
        """Fold in categories already read, with their counts."""
        self._read = None
        self.missing += int(missing)
        for key, n in counts.items():
            self._texts[key] = self._texts.get(key, 0) + int(n)

    def merge(self, other: CategorySummary) -> None:
        self._read = None
        self.missing += other.missing
        for key, n in other._raw.items():
            self._raw[key] = self._raw.get(key, 0) + n
        self.add_counts(other._texts)

    def _values(self) -> CategoryValues:
        if self._read is None:
            keys = list(self._raw)
            values = pd.Series([k[1] for k in keys], dtype=object)
            weights = np.array([self._raw[k] for k in keys], dtype=np.int64)
            read = categories_of(values, weights, self.coerce)
            texts = dict(self._texts)
            for key, n in read.counts.items():
                texts[key] = texts.get(key, 0) + n
            ordered = dict(sorted(texts.items(), key=lambda kv: (-kv[1], kv[0])))
            self._read = CategoryValues(ordered, self.missing + read.missing)
        return self._read

    @property
    def counts(self) -> dict[str, int]:
        """Most frequent first, ties by name (as :func:`read_categories` orders them)."""
        return self._values().counts

    @property
    def count(self) -> int:
        return self._values().count

    @property
    def read_missing(self) -> int:
        """Missing values, including raw values that read as missing (blank text)."""
        return self._values().missing

    @property
    def rows(self) -> int:
        return self.count + self.read_missing


Summary = NumericSummary | CategorySummary


@dataclass
class FrameSummary:
    """The summaries of a frame's profiled columns, over all its chunks.

    ``columns`` holds the profiled columns that were present; ``others`` the names of
    columns that were not profiled (reported as ignored).
    """

    kinds: dict[str, tuple[str, str]]  # column -> (kind, coerce), from the profile
    rows: int = 0
    columns: dict[str, Summary] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)
    max_distinct: int = MAX_DISTINCT

    @classmethod
    def for_profile(cls, profile: Any, max_distinct: int = MAX_DISTINCT) -> FrameSummary:
        kinds = {n: (p.kind, p.coerce) for n, p in profile.columns.items()}
        return cls(kinds, max_distinct=max_distinct)

    def _summary(self, name: str) -> Summary:
        if name not in self.columns:
            kind, coerce = self.kinds[name]
            self.columns[name] = (
                NumericSummary(coerce, self.max_distinct)
                if kind == "numeric"
                else CategorySummary(coerce)
            )
        return self.columns[name]

    def add(self, frame: Any) -> None:
        """Fold in one chunk, a pandas frame or an Arrow record batch (its profiled
        columns; the others are only named). Text columns of a batch are counted by
        Arrow, never converted; the others are converted as ``to_pandas`` does."""
        arrow = not isinstance(frame, pd.DataFrame)
        names = frame.schema.names if arrow else frame.columns
        for i, name in enumerate(names):
            if name not in self.kinds:
                if str(name) not in self.others:
                    self.others.append(str(name))
                continue
            summary = self._summary(name)
            if not arrow:
                summary.add(frame[name])
            elif isinstance(summary, CategorySummary) and _is_text(frame.column(i).type):
                summary.add_arrow_text(frame.column(i))
            else:
                summary.add(frame.column(i).to_pandas())
        self.rows += frame.num_rows if arrow else len(frame)

    def merge(self, other: FrameSummary) -> None:
        for name, summary in other.columns.items():
            self._summary(name).merge(summary)  # type: ignore[arg-type]
        self.others += [n for n in other.others if n not in self.others]
        self.rows += other.rows

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in self.columns.values() if isinstance(s, NumericSummary))


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def summarize(profile: Any, frame: pd.DataFrame, max_distinct: int = MAX_DISTINCT) -> FrameSummary:
    """One frame's summary (what :func:`~mlctl.monitor.drift.dataset_drift` does with a
    frame: the streamed path with a single chunk)."""
    out = FrameSummary.for_profile(profile, max_distinct)
    out.add(frame)
    return out
