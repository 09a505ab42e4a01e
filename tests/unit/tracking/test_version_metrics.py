"""A version's test metrics: one ``mlctl.test_metrics`` tag, older versions' per-metric tags."""

import json
import math

import pytest

from mlctl.tracking.registry import metrics_tag, version_info, version_metrics

pytestmark = pytest.mark.unit


def test_the_metrics_tag_is_one_readable_json_object():
    tag = metrics_tag({"roc_auc": 0.8466041489059393, "log_loss": math.nan, "f1": None})
    assert json.loads(tag) == {"roc_auc": 0.846604}  # NaN and None are not metrics
    assert version_metrics({"mlctl.test_metrics": tag}) == {"roc_auc": 0.846604}


def test_versions_registered_before_the_tag_are_still_read():
    old = {"mlctl.metric.roc_auc": "0.81", "mlctl.metric.accuracy": "0.79", "mlctl.gate": "passed"}
    info = version_info("churn", 3, ["champion"], "r1", 0, old, None)
    assert info.metrics == {"roc_auc": 0.81, "accuracy": 0.79}
    assert info.tags == {"mlctl.gate": "passed"}  # metrics are not repeated as tags


def test_a_damaged_tag_gives_no_metrics_rather_than_an_error():
    assert version_metrics({"mlctl.test_metrics": "{not json"}) == {}
    assert version_metrics({"mlctl.test_metrics": '["roc_auc"]'}) == {}
    assert version_metrics({"mlctl.test_metrics": '{"roc_auc": "high", "f1": 0.5}'}) == {"f1": 0.5}
