"""Decoding the logged inputs: columns given or found, odd rows, name clashes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlctl.monitor.decode import InputDecoder, decode_inputs, meta_columns
from mlctl.predlog import META_COLUMNS

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


# ------------------------------------------------------------------ the decoder's two ways

TELCO_LIKE = [
    {"id": f"c{i}", "tenure": i, "charges": 20.5 + i, "senior": i % 2 == 0, "since": "2024-01-01"}
    for i in range(50)
]


def test_arrow_and_dict_ways_give_the_same_frame() -> None:
    rows = texts(*TELCO_LIKE, {"id": "x", "tenure": None, "charges": 3})
    cols = ["id", "tenure", "charges", "senior", "since", "absent"]
    fast = InputDecoder(cols)
    frame, bad = fast(rows)
    assert fast.arrow and bad == 0
    slow = InputDecoder(cols)
    slow.arrow = False
    pd.testing.assert_frame_equal(frame, slow(rows)[0])
    assert frame["since"].iloc[0] == "2024-01-01"  # a date-like text stays text
    assert frame["tenure"].dtype == "float64" and frame["charges"].iloc[-1] == 3.0


def test_types_settle_on_the_first_batch_and_hold() -> None:
    decoder = InputDecoder(["tenure", "charges"])
    first, _ = decoder(texts({"tenure": 1, "charges": 2.5}))
    later, _ = decoder(texts({"tenure": 7, "charges": 3}))
    assert first.dtypes.tolist() == later.dtypes.tolist() == [np.int64, np.float64]


def test_a_batch_arrow_cannot_take_goes_the_general_way() -> None:
    decoder = InputDecoder(["tenure"])
    decoder(texts({"tenure": 1}))
    frame, bad = decoder(texts({"tenure": 2}, {"tenure": "unknown"}))
    assert frame["tenure"].tolist() == [2, "unknown"] and bad == 0
    frame, bad = decoder(['{"tenure": 3}', '{"tenure": NaN}', '{"tenure": 4'])
    assert frame["tenure"].iloc[0] == 3 and np.isnan(frame["tenure"].iloc[1])
    assert bad == 1  # the truncated row


def test_nested_values_use_the_dict_way() -> None:
    decoder = InputDecoder()
    frame, _ = decoder(texts({"tags": [1, 2], "n": 1}))
    assert not decoder.arrow and frame["tags"][0] == [1, 2]


def test_keys_first_seen_after_the_sample_still_appear() -> None:
    decoder = InputDecoder()
    decoder.SAMPLE = 2
    frame, _ = decoder(texts({"a": 1}, {"a": 2}, {"a": 3, "late": "x"}))
    assert list(frame.columns) == ["a", "late"] and frame["late"].tolist()[2] == "x"


def test_a_column_empty_in_the_sample_keeps_its_later_values() -> None:
    decoder = InputDecoder(["a", "opt"])
    decoder.SAMPLE = 2
    frame, _ = decoder(texts({"a": 1, "opt": None}, {"a": 2}, {"a": 3, "opt": "late"}))
    assert decoder.arrow and frame["opt"].tolist()[2] == "late"
    frame, _ = decoder(texts({"a": 4}))
    assert frame["opt"].dtype == "float64" and frame["opt"].isna().all()
