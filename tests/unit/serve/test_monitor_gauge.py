"""``mlctl_monitor_attention`` and ``mlctl_monitor_last_run_timestamp_seconds``: read
from the latest monitoring result, absent while there is none or it is unreadable, read
again only when the file changed."""

from __future__ import annotations

import json
import os

import pytest

from mlctl.serve.metrics import MonitorResult

pytestmark = pytest.mark.unit


def samples(collector: MonitorResult) -> dict[str, list]:
    return {f.name: [(s.labels, s.value) for s in f.samples] for f in collector.collect()}


def write(path, status: str, version: int = 3, **extra) -> None:
    doc = {"status": status, "model": {"name": "churn", "version": version}, **extra}
    path.write_text(json.dumps(doc))


def test_status_to_gauge(tmp_path) -> None:
    latest = tmp_path / "latest.json"
    gauge = MonitorResult()
    assert samples(gauge) == {
        "mlctl_monitor_attention": [],
        "mlctl_monitor_last_run_timestamp_seconds": [],
    }
    gauge.path = str(latest)
    assert samples(gauge)["mlctl_monitor_attention"] == []  # no file yet
    write(latest, "attention", generated_at="2026-12-05T21:00:00Z")
    got = samples(gauge)
    assert got["mlctl_monitor_attention"] == [({"model": "churn", "version": "3"}, 1.0)]
    assert got["mlctl_monitor_last_run_timestamp_seconds"] == [
        ({"model": "churn", "version": "3"}, 1796504400.0)
    ]
    write(latest, "not_enough_data", version=4, note="a different size")
    assert samples(gauge)["mlctl_monitor_attention"] == [({"model": "churn", "version": "4"}, 0.0)]
    latest.write_text('{"status": "exploded"}')
    assert samples(gauge)["mlctl_monitor_attention"] == []  # not a status monitor writes
    latest.write_text("{half a docu")
    assert samples(gauge)["mlctl_monitor_attention"] == []


def test_the_file_is_read_again_only_when_it_changed(tmp_path) -> None:
    latest = tmp_path / "latest.json"
    write(latest, "healthy")
    gauge = MonitorResult()
    gauge.path = str(latest)
    assert samples(gauge)["mlctl_monitor_attention"][0][1] == 0.0
    stat = latest.stat()
    write(latest, "unknown")  # same size, same time: not read again
    os.utime(latest, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert samples(gauge)["mlctl_monitor_attention"][0][1] == 0.0
    os.utime(latest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert samples(gauge)["mlctl_monitor_attention"] == []
