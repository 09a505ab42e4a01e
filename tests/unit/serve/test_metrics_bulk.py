"""Counting a request's rows in one update per label and per bucket gives exactly the
exposition that one update per row gives."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from mlctl.serve.metrics import SCORE_BUCKETS, Metrics, observe_many

pytestmark = pytest.mark.unit

EDGES = [0.0, 0.1, 0.30000000000000004, 0.3, 1.0, -0.5, 1.5, math.inf, -math.inf, math.nan]


def exposition(values: list[float], bulk: bool) -> bytes:
    registry = CollectorRegistry()
    histogram = Histogram("h", "h", buckets=SCORE_BUCKETS, registry=registry)
    if bulk:
        observe_many(histogram, values)
    else:
        for value in values:
            histogram.observe(value)
    return _without_created(generate_latest(registry))


def _without_created(text: bytes) -> bytes:
    """The exposition without its ``_created`` timestamps (when each object was made)."""
    return b"\n".join(line for line in text.splitlines() if b"_created" not in line)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(), st.sampled_from(EDGES)), max_size=60))
def test_observe_many_is_observe_for_each_value(values) -> None:
    assert exposition(values, bulk=True) == exposition(values, bulk=False)


def test_predicted_counts_labels_and_scores_as_one_update_per_row() -> None:
    labels = ["Yes", "No", "No", "Yes", "No"] * 4
    scores = [0.9, 0.2, 0.1, None, 0.05] * 4
    bulk = Metrics()
    bulk.predicted(3, "champion", labels, True, scores)
    each = Metrics()
    for label, score in zip(labels, scores, strict=True):
        each.predictions.labels("3", "champion", label).inc()
        if score is not None:
            each.scores.observe(score)
    assert (
        generate_latest(bulk.registry).split(b"# HELP mlctl_prediction_score")[1]
        == (generate_latest(each.registry).split(b"# HELP mlctl_prediction_score")[1])
    )
    for label in ("Yes", "No"):
        sample = bulk.predictions.labels("3", "champion", label)._value.get()
        assert sample == labels.count(label)
    bulk.predicted(3, "champion", [1.5, 2.5], False, [1.5, 2.5])  # a regression
    assert bulk.predictions.labels("3", "champion", "value")._value.get() == 2
