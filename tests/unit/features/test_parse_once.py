"""DerivedFeatures parses its expressions once, not at every transform (a server calls
transform on every batch), and the parsed expressions never reach a saved model."""

from __future__ import annotations

import pandas as pd
import pytest
import skops.io as sio

import mlctl_runtime.transformers as transformers
from mlctl.errors import ExpressionError
from mlctl.features.transformers import DerivedFeatures

pytestmark = pytest.mark.unit

SPECS = [("ratio", "a / (b + 1)"), ("big", "ratio > median(ratio)")]


def test_transform_parses_no_expression_again(monkeypatch) -> None:
    calls: list[str] = []
    real = transformers.parse_expression

    def counting(text, *, name=""):
        calls.append(name)
        return real(text, name=name)

    monkeypatch.setattr(transformers, "parse_expression", counting)
    transformers._parse_specs.cache_clear()
    frame = pd.DataFrame({"a": [1.0, 2.0, 6.0], "b": [0.0, 1.0, 1.0]})
    step = DerivedFeatures(list(SPECS)).fit(frame)
    first = step.transform(frame)
    parsed = len(calls)
    for _ in range(3):
        again = step.transform(frame.iloc[:1])
    assert len(calls) == parsed == 2
    assert list(again.columns) == ["a", "b", "ratio", "big"]
    assert first["big"].tolist() == [0.0, 0.0, 1.0]


def test_a_bad_expression_still_fails_every_time_and_a_saved_step_holds_no_parse() -> None:
    for _ in range(2):
        with pytest.raises(ExpressionError, match="must be text"):
            DerivedFeatures([("x", ["not", "text"])]).fit(pd.DataFrame({"a": [1.0]}))
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    step = DerivedFeatures(list(SPECS)).fit(frame)
    step.transform(frame)
    dumped = sio.dumps(step)
    assert not [t for t in sio.get_untrusted_types(data=dumped) if "Expression" in t]
    loaded = sio.loads(dumped, trusted=sio.get_untrusted_types(data=dumped))
    pd.testing.assert_frame_equal(loaded.transform(frame), step.transform(frame))
