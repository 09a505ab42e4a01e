"""Options, URLs, rows and the SLO verdict: the pure parts of ``mlctl loadtest``."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mlctl.errors import RowsRejected, UsageError
from mlctl.loadtest import rows, slo
from mlctl.loadtest.http import Target, encode_post
from mlctl.loadtest.run import LoadtestOptions, check_options

pytestmark = pytest.mark.unit

COLUMNS = [
    {"name": "tenure", "type": "long", "required": True},
    {"name": "Contract", "type": "string", "required": True},
]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (LoadtestOptions(clients=4, rate=10), "choose one"),
        (LoadtestOptions(connections=4), "--connections is for the open loop"),
        (LoadtestOptions(rate=0.5, duration=1), "sends no request"),
        (LoadtestOptions(rows_per_request=2000), "max_batch_rows"),
    ],
)
def test_option_combinations_that_cannot_run_are_named(options, expected) -> None:
    with pytest.raises(UsageError, match=expected):
        check_options(options, max_batch_rows=1000)


def test_the_url_must_be_a_base_http_url() -> None:
    assert Target.parse("http://127.0.0.1:8000/").base == "http://127.0.0.1:8000"
    assert Target.parse("https://models.example/churn").prefix == "/churn"
    for bad in ("127.0.0.1:8000", "ftp://x", "http://x/?a=1", "http://x:notaport"):
        with pytest.raises(UsageError, match="--url"):
            Target.parse(bad)


def test_a_request_is_encoded_once_with_its_length() -> None:
    t = Target.parse("http://127.0.0.1:8000/p")
    raw = encode_post(t, "/predict", b'{"records":[]}', {"Authorization": "Bearer k"})
    head, body = raw.split(b"\r\n\r\n")
    assert head.startswith(b"POST /p/predict HTTP/1.1\r\nHost: 127.0.0.1:8000")
    assert b"Content-Length: 14" in head and b"Authorization: Bearer k" in head
    assert body == b'{"records":[]}'


def test_a_rows_file_with_columns_the_model_does_not_take_is_refused(tmp_path) -> None:
    path = tmp_path / "rows.csv"
    pd.DataFrame({"tenure": [1], "Contract": ["x"], "Churn": ["Yes"], "id": [1]}).to_csv(
        path, index=False
    )
    with pytest.raises(RowsRejected, match="1 column.*does not take: Churn") as caught:
        rows.from_file(str(path), COLUMNS, {"id"})
    assert "tenure, Contract" in caught.value.hint


def test_a_rows_file_missing_a_required_column_is_refused(tmp_path) -> None:
    path = tmp_path / "rows.csv"
    pd.DataFrame({"tenure": [1]}).to_csv(path, index=False)
    with pytest.raises(RowsRejected, match="lacks 1 column.*needs: Contract"):
        rows.from_file(str(path), COLUMNS, set())
    with pytest.raises(RowsRejected, match="--rows: file not found"):
        rows.from_file(str(tmp_path / "nope.csv"), COLUMNS, set())


def test_rows_become_json_bodies_with_nulls_and_the_id_column() -> None:
    frame = pd.DataFrame(
        {"id": ["a", "b", "c"], "tenure": [1, 2, None], "Contract": ["x", "y", "z"], "x": 1}
    )
    found = rows.from_frame(frame, "test", COLUMNS, {"id"})
    assert found.records[2] == {"tenure": None, "Contract": "z", "id": "c"}
    bodies = rows.bodies(found, 2)
    assert len(bodies) == 1 and len(json.loads(bodies[0])["records"]) == 2
    assert len(rows.bodies(found, 1)) == 3
    assert len(json.loads(rows.bodies(found, 5)[0])["records"]) == 5  # cycles


def _results(p95, p99=None, errors=0.0, ok_rate=100.0):
    return {
        "latency_ms": {"p95_ms": p95, "p99_ms": p99},
        "error_rate": errors,
        "ok_per_second": ok_rate,
    }


def test_the_verdict_names_the_checks_a_person_reads() -> None:
    defaults = {"p95_ms": 100.0, "p99_ms": None, "max_error_rate": 0.01}
    checks = slo.check(defaults, _results(12.14))
    assert [c.name for c in checks] == ["p95_ms", "max_error_rate"]
    assert slo.verdict(checks) == "pass: p95 12.1 ms <= 100 ms; errors 0.00 % <= 1 %"
    strict = {"p95_ms": 10, "p99_ms": 20, "max_error_rate": 0.0, "min_throughput_rps": 500}
    failed = slo.check(strict, _results(12.14, 30.0, 0.02, 80.0))
    assert slo.verdict(failed) == (
        "fail: p95 12.1 ms > 10 ms; p99 30.0 ms > 20 ms; errors 2.00 % > 0 %"
    )
    assert not failed[-1].passed and failed[-1].text() == "throughput 80.0/s < 500/s"
    assert not slo.check(defaults, _results(None))[0].passed  # nothing answered


def test_errors_are_5xx_and_no_answer_over_every_request_not_4xx() -> None:
    from mlctl.loadtest import generator
    from mlctl.loadtest.run import document, key_metrics

    m = generator.Measurement()
    for status, n in ((200, 90), (422, 5), (503, 3)):
        for _ in range(n):
            m.record(status, 2_000_000, 1.0)
    m.failures["timeout"] = 2
    m.elapsed = 2.0
    plan = generator.Plan([b"x"], 4, 2.0, clients=2)
    found = rows.Rows([{"a": 1}], "test")
    slo_settings = {"p95_ms": 100.0, "p99_ms": None, "max_error_rate": 0.01}
    doc = document(
        plan, m, {"name": "m", "version": 3}, Target.parse("http://h:1"), True, found, slo_settings
    )
    r = doc["results"]
    assert (r["requests"], r["answered"], r["ok"], r["errors"]) == (100, 98, 90, 5)
    assert r["error_rate"] == 0.05 and r["ok_per_second"] == 45.0 and r["rows_per_second"] == 180.0
    assert r["statuses"] == {"200": 90, "422": 5, "503": 3} and r["failures"] == {"timeout": 2}
    assert doc["status"] == "fail" and doc["verdict"] == "fail: errors 5.00 % > 1 %"
    assert doc["reasons"] == ["errors 5.00 % > 1 %"]
    metrics = key_metrics(doc)
    assert metrics["passed"] == 0.0 and metrics["requests"] == 100.0
    assert metrics["latency_p95_ms"] == pytest.approx(2.0, rel=0.01)


def test_errors_the_started_service_logged_become_one_warning() -> None:
    import tempfile

    from mlctl.loadtest.service import server_errors

    with tempfile.TemporaryFile() as console:
        console.write(
            b"2026-12-05 22:00:00,001 WARNING mlctl.serve: trying churn/2 again\n"
            b"- POST /predict 200 3.1 ms version=1 variant=champion\n"
            + b"".join(
                b"2026-12-05 22:00:01,%03d ERROR mlctl.serve: unhandled error answering "
                b"POST /predict\n" % i
                for i in range(5)
            )
        )
        (warning,) = server_errors(console)
        assert warning.startswith("the service logged 5 error line(s) during the test: ")
        assert warning.count("unhandled error answering POST /predict") == 3
        assert warning.endswith("(and 2 more)")
    with tempfile.TemporaryFile() as quiet:
        quiet.write(b"- POST /predict 200 3.1 ms version=1 variant=champion\n")
        assert server_errors(quiet) == []
