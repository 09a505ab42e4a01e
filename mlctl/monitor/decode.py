"""Logged inputs (one compact JSON object per row) decoded into frames, and the names
the log's own columns take beside them.

Chunks hold the logged inputs decoded into columns plus the log's own columns
(:data:`~mlctl.predlog.META_COLUMNS`). Should an input be named like one of them (a
feature called ``score``), the input keeps its name and the log column is renamed
(``_log_score``); :func:`meta_columns` gives the mapping, and so does
``frame.attrs["meta"]``.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

from mlctl.predlog.schema import META_COLUMNS

_ANY_LIST = msgspec.json.Decoder(list[Any])
_ANY = msgspec.json.Decoder()
_TEXT = pd.Series(["x"]).dtype  # pandas' own dtype for text: str (pandas 3) or object
_STR_TYPES = (
    {pa.string(): _TEXT, pa.large_string(): _TEXT} if isinstance(_TEXT, pd.StringDtype) else {}
)


def meta_columns(input_columns: Sequence[str], names: Sequence[str] = META_COLUMNS) -> dict:
    """Log column -> its name in a chunk: itself, or ``_log_<name>`` if an input has it."""
    taken = set(input_columns)
    out = {}
    for name in names:
        new = name
        while new in taken:
            new = f"_log_{new}" if new == name else f"_{new}"
        out[name] = new
        taken.add(new)
    return out


class InputDecoder:
    """Turns batches of logged inputs (compact JSON objects) into frames.

    The column types are settled on the first batch, from up to
    :attr:`SAMPLE` of its rows decoded with msgspec: text, int, float or bool. Then
    every batch is parsed by Arrow's JSON reader with those types (several times
    faster than building the frame from Python dicts, and the same dtypes in every
    chunk). A batch Arrow cannot take with them (a value of another type, a row that
    is not one JSON object, a number beyond int64, nested values) goes the general
    way: one msgspec decode of the whole batch into dicts, then per row, then
    :func:`json.loads` (which reads the ``NaN`` Python's json writes).

    Args:
        columns: The model's input columns: keys not among them are ignored, missing
            keys are missing values (NaN/None). Default: every key seen, in order of
            first appearance (then the chunks of one log may differ in columns).
    """

    SAMPLE = 1000

    def __init__(self, columns: Sequence[str] | None = None) -> None:
        self.columns = None if columns is None else list(columns)
        self.schema: pa.Schema | None = None
        self.arrow = True  # False once the sample shows Arrow cannot type the inputs

    def __call__(self, texts: Sequence[str]) -> tuple[pd.DataFrame, int]:
        """The frame of one batch, and how many rows were not JSON objects (those
        rows are all missing)."""
        if not len(texts):
            return pd.DataFrame(columns=self.columns or []), 0
        if self.arrow and self.schema is None:
            self.schema = self._sample_schema(texts)
            self.arrow = self.schema is not None
        if self.arrow:
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return self._arrow(texts), 0
        return self._dicts(texts)

    def _sample_schema(self, texts: Sequence[str]) -> pa.Schema | None:
        rows, _ = _decode_rows(texts[: self.SAMPLE])
        kinds: dict[str, set[type]] = {}
        for row in rows:
            for key, value in row.items():
                kinds.setdefault(key, set()).add(type(value))
        fields = []
        for key in self.columns if self.columns is not None else kinds:
            seen = kinds.get(key, set()) - {type(None)}
            if not seen:
                continue  # no value in the sample: typed by Arrow, or all missing
            if seen <= {str}:
                fields.append(pa.field(key, pa.string()))
            elif seen <= {bool}:
                fields.append(pa.field(key, pa.bool_()))
            elif seen <= {int}:
                fields.append(pa.field(key, pa.int64()))
            elif seen <= {int, float}:
                fields.append(pa.field(key, pa.float64()))
            else:
                return None  # mixed or nested values: the general way
        return pa.schema(fields)

    def _arrow(self, texts: Sequence[str]) -> pd.DataFrame:
        assert self.schema is not None
        # "infer": a key the sample had no value for is still read (typed by Arrow)
        options = pa_json.ParseOptions(
            explicit_schema=self.schema, unexpected_field_behavior="infer"
        )
        table = pa_json.read_json(io.BytesIO("\n".join(texts).encode()), parse_options=options)
        if table.num_rows != len(texts):
            raise pa.ArrowInvalid("row count differs")  # never split or merge rows
        frame = table.to_pandas(types_mapper=_STR_TYPES.get)
        for name in table.column_names:  # missing values as pandas has them: NaN
            kind = table.schema.field(name).type
            if pa.types.is_null(kind):
                frame[name] = np.full(len(frame), np.nan)
            elif pa.types.is_boolean(kind) and table[name].null_count:
                frame[name] = frame[name].astype(object).where(frame[name].notna(), np.nan)
        if self.columns is None:
            return frame
        for name in self.columns:
            if name not in frame.columns:
                frame[name] = np.full(len(frame), np.nan)
        return frame[self.columns]

    def _dicts(self, texts: Sequence[str]) -> tuple[pd.DataFrame, int]:
        rows, bad = _decode_rows(texts)
        columns = self.columns
        if columns is None:
            columns = list(dict.fromkeys(itertools.chain.from_iterable(rows)))
        return pd.DataFrame.from_records(rows, columns=columns), bad


def decode_inputs(
    texts: Sequence[str], columns: Sequence[str] | None = None
) -> tuple[pd.DataFrame, int]:
    """One batch through a new :class:`InputDecoder`: the frame and the bad-row count."""
    return InputDecoder(columns)(texts)


def _decode_rows(texts: Sequence[str]) -> tuple[list[dict], int]:
    """Dicts from JSON objects: one msgspec decode of the batch, else row by row."""
    try:
        rows = _ANY_LIST.decode(("[" + ",".join(texts) + "]").encode())
    except (msgspec.DecodeError, TypeError):
        rows = [_decode_one(t) for t in texts]
    if all(type(r) is dict for r in rows):
        return rows, 0
    bad = sum(type(r) is not dict for r in rows)
    return [r if type(r) is dict else {} for r in rows], bad


def _decode_one(text: Any) -> Any:
    try:
        return _ANY.decode(text.encode() if isinstance(text, str) else text)
    except (msgspec.DecodeError, TypeError, AttributeError):
        pass
    try:  # Python's json writes NaN and Infinity, which strict JSON lacks
        return json.loads(text)
    except (ValueError, TypeError):
        return None
