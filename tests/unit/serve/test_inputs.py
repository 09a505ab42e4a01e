"""Row checks of the server: the fast paths give what the per-value checks give."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlctl.predict.validate import TYPE_RANGES, InputColumn
from mlctl.serve.inputs import Columns, InvalidInput, _number, _scalar, check_records

pytestmark = pytest.mark.unit

COLUMNS = [
    InputColumn("n", "double"),
    InputColumn("k", "long"),
    InputColumn("t", "string"),
    InputColumn("o", "string", required=False),
]


def reference(records: list[Any], columns: list[InputColumn], id_column=None, strict=True):
    """The per-value loop the fast paths replaced: (values, ids) or the error list."""
    names = [c.name for c in columns]
    known = set(names) | ({id_column} if id_column else set())
    numeric = {c.name for c in columns if c.numeric}
    values: dict[str, list[Any]] = {name: [] for name in names}
    ids, errors = [], []
    for i, row in enumerate(records):
        if not isinstance(row, dict):
            errors.append((i, None))
            continue
        for col in columns:
            if col.name not in row:
                if col.required:
                    errors.append((i, col.name))
                values[col.name].append(None)
                continue
            raw = row[col.name]
            bounds = TYPE_RANGES[col.type] if col.name in numeric else None
            value, problem = _number(raw, bounds) if bounds else _scalar(raw)
            if problem:
                errors.append((i, col.name))
            values[col.name].append(np.nan if value is None and col.name in numeric else value)
        if id_column:
            ids.append(row.get(id_column))
        if strict:
            errors += [(i, str(k)) for k in row if k not in known]
    return errors if errors else (values, ids)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.integers(),  # beyond 64 bits too
    st.sampled_from([2**63, -(2**63) - 1, 10**400, 1e300, "1e400", "1_0", "\u0661"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " ", "1.5", "abc", "7", "nan", "inf", "Yes"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.just("a"), st.integers(), max_size=1),
)
row = st.dictionaries(st.sampled_from(["n", "k", "t", "o", "id", "extra"]), scalars, max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(row, st.integers()), min_size=1, max_size=6), st.booleans())
def test_check_records_matches_the_per_value_checks(records, strict) -> None:
    expected = reference(records, COLUMNS, "id", strict)
    try:
        got = check_records(records, COLUMNS, "id", strict)
    except InvalidInput as exc:
        assert isinstance(expected, list), expected
        assert [(e.row, e.column) for e in exc.errors] == expected[:20]
        assert exc.total == len(expected)
        return
    assert not isinstance(expected, list), expected
    values, ids = expected
    assert got.rows == len(records) and got.ids == ids and got.names == ["n", "k", "t", "o"]
    for name in got.names:
        assert len(got.values[name]) == len(values[name])
        assert all(same(a, b) for a, b in zip(got.values[name], values[name], strict=True))


def test_frame_types_and_concat() -> None:
    a = check_records([{"n": 1, "k": "2", "t": "x"}], COLUMNS)
    b = check_records([{"n": None, "k": 3, "t": 4, "o": True}], COLUMNS)
    both = Columns.concat([a, b])
    frame = both.frame()
    assert list(frame.columns) == ["n", "k", "t", "o"] and len(frame) == 2
    assert frame["n"].dtype == np.float64 and frame["k"].tolist() == [2.0, 3.0]
    assert np.isnan(frame["n"].iloc[1]) and frame["t"].tolist() == ["x", 4]
    assert frame["o"].tolist()[1] is True


def test_each_column_list_is_checked_by_its_own_rules_when_many_alternate() -> None:
    """The rules derived from a column list are remembered per list (a server checks
    every request against one list): lists with the same names but other types, or
    another id column, never share them, and a list is never confused with a later one
    even after many lists came and went."""
    as_number = [InputColumn("x", "double")]
    as_text = [InputColumn("x", "string")]
    for _ in range(3):
        assert check_records([{"x": "7"}], as_number).values == {"x": [7.0]}
        assert check_records([{"x": "7"}], as_text).values == {"x": ["7"]}
        with pytest.raises(InvalidInput, match="unknown column"):
            check_records([{"x": 1.0, "id": "a"}], as_number)
        assert check_records([{"x": 1.0, "id": "a"}], as_number, "id").ids == ["a"]
    for i in range(100):  # fresh lists, freed at once: their ids come back
        fresh = [InputColumn("x", "double" if i % 2 else "string")]
        expected = 7.0 if i % 2 else "7"
        assert check_records([{"x": "7"}], fresh).values == {"x": [expected]}
