"""Decoding the logged inputs: columns given or found, odd rows, name clashes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlctl.monitor.sources import META_COLUMNS, decode_inputs, meta_columns

pytestmark = pytest.mark.unit


def texts(*rows) -> list[str]:
    return [json.dumps(r, separators=(",", ":")) for r in rows]


def test_columns_given_missing_and_unknown_keys() -> None:
    frame, bad = decode_inputs(
        texts({"a": 1, "b": "x", "extra": 9}, {"b": "y"}, {"a": 2.5, "b": None}), ["a", "b", "c"]
    )
    assert list(frame.columns) == ["a", "b", "c"] and bad == 0
    assert frame["a"].tolist()[0] == 1 and np.isnan(frame["a"][1]) and frame["a"][2] == 2.5
    assert frame["b"].tolist()[:2] == ["x", "y"]
    assert frame["c"].isna().all()


def test_columns_found_in_order_of_appearance() -> None:
    frame, _ = decode_inputs(texts({"b": 1}, {"a": 2, "b": 3}))
    assert list(frame.columns) == ["b", "a"]


def test_rows_that_are_not_objects_are_all_missing_and_counted() -> None:
    frame, bad = decode_inputs(['{"a": 1}', "[1, 2]", "not json", '"text"', '{"a": 2}'], ["a"])
    assert bad == 3
    assert frame["a"].tolist()[0] == 1 and frame["a"].tolist()[4] == 2
    assert frame["a"][1:4].isna().all()


def test_unicode_and_nested_values_survive() -> None:
    frame, _ = decode_inputs(texts({"name": "Zoë ☃", "tags": [1, 2]}), ["name", "tags"])
    assert frame["name"][0] == "Zoë ☃" and frame["tags"][0] == [1, 2]


def test_nothing_to_decode() -> None:
    frame, bad = decode_inputs([], ["a"])
    assert list(frame.columns) == ["a"] and len(frame) == 0 and bad == 0


def test_meta_columns_give_way_to_inputs() -> None:
    names = meta_columns(["score", "tenure", "_log_ts", "ts"])
    assert names["score"] == "_log_score"
    assert names["ts"] == "__log_ts"  # _log_ts is an input too
    assert names["request_id"] == "request_id"
    assert set(meta_columns([])) == set(META_COLUMNS)
