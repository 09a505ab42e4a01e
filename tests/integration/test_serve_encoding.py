"""Compressed request bodies (``Content-Encoding: gzip`` / ``deflate``) against a real
``mlctl serve``: answered as the same body sent plain, by our routes and by
tritonclient with compression on; other codings, broken streams and bodies that
inflate past the limit are refused with the right status and a message naming the
problem."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from serve_helpers import FAST, ROW, Reply, Server

pytestmark = pytest.mark.integration

LIMIT = 200_000  # deploy.serve.max_body_bytes of the server below


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("encoding"), 900, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def server(project):
    srv = Server(project, "recipes/churn.yaml", f"deploy.serve.max_body_bytes={LIMIT}")
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0, srv.output()


def post(server, path: str, body: bytes, encoding: str | None, ctype="application/json"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        headers = {"Content-Type": ctype}
        if encoding is not None:
            headers["Content-Encoding"] = encoding
        conn.request("POST", path, body=body, headers=headers)
        res = conn.getresponse()
        return Reply(res.status, {k.lower(): v for k, v in res.getheaders()}, res.read())
    finally:
        conn.close()


ROWS = [ROW, {**ROW, "tenure": 60, "Contract": "Two year", "customerID": "x-2"}]
PREDICT = json.dumps({"records": ROWS}).encode()
INVOCATIONS = json.dumps({"dataframe_records": ROWS}).encode()


def predictions(reply: Reply) -> list:
    assert reply.status == 200, reply.body
    doc = reply.json
    if "model" in doc:  # /predict
        return [(p["prediction"], p["probabilities"]) for p in doc["predictions"]]
    return doc["predictions"]


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("GZIP", gzip.compress),
        ("identity", lambda b: b),
        ("identity, gzip", gzip.compress),
    ],
)
@pytest.mark.parametrize("path", ["/predict", "/invocations"])
def test_a_compressed_body_is_answered_as_the_plain_one(server, path, encoding, compress):
    body = PREDICT if path == "/predict" else INVOCATIONS
    plain = predictions(post(server, path, body, None))
    assert predictions(post(server, path, compress(body), encoding)) == plain


def test_tritonclient_with_compression_on(server) -> None:
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    meta = client.get_model_metadata("churn")
    inputs = []
    for tensor in meta["inputs"]:
        kind = {"BYTES": np.object_, "INT64": np.int64, "FP64": np.float64}[tensor["datatype"]]
        array = np.array([row[tensor["name"]] for row in ROWS], dtype=kind)
        one = triton.InferInput(tensor["name"], [len(ROWS)], tensor["datatype"])
        one.set_data_from_numpy(array)
        inputs.append(one)
    plain = client.infer("churn", inputs).as_numpy("predict_proba")
    for algorithm in ("gzip", "deflate"):
        result = client.infer(
            "churn",
            inputs,
            request_compression_algorithm=algorithm,
            response_compression_algorithm=algorithm,  # asks; an uncompressed answer is fine
        )
        np.testing.assert_array_equal(result.as_numpy("predict_proba"), plain)
    client.close()


def test_other_codings_are_415_with_the_codings_we_read(server) -> None:
    for encoding in ("br", "zstd", "gzip, gzip", "gzip, br"):
        for path in ("/predict", "/invocations", "/feedback"):
            reply = post(server, path, PREDICT, encoding)
            assert reply.status == 415, (encoding, path, reply.body)
            assert reply.headers["accept-encoding"] == "gzip, deflate"
            assert "Content-Encoding" in reply.json["message"], reply.json
    multiple = post(server, "/predict", PREDICT, "gzip, gzip").json["message"]
    assert "several codings ('gzip, gzip')" in multiple
    # /invocations answers in MLflow's shape, as all its errors
    assert post(server, "/invocations", PREDICT, "br").json["error_code"] == (
        "UNSUPPORTED_MEDIA_TYPE"
    )


def test_broken_streams_are_400_naming_the_content_encoding(server) -> None:
    packed = gzip.compress(PREDICT)
    for body, encoding, needle in [
        (PREDICT, "gzip", "not what its Content-Encoding says"),  # not compressed at all
        (packed[: len(packed) // 2], "gzip", "ends early"),
        (packed + b"junk", "gzip", "bytes after the compressed data"),
        (packed + packed, "gzip", "bytes after the compressed data"),  # two members
        (gzip.compress(PREDICT), "deflate", "not what its Content-Encoding says"),
    ]:
        reply = post(server, "/predict", body, encoding)
        assert reply.status == 400, (encoding, reply.body)
        assert needle in reply.json["message"], reply.json
        assert reply.json["error_code"] == "BAD_REQUEST"


def test_bodies_past_the_limit_are_413_either_way(server) -> None:
    bomb = gzip.compress(b" " * (LIMIT * 50))  # a few KB that inflate to 10 MB
    assert len(bomb) < LIMIT // 10
    reply = post(server, "/predict", bomb, "gzip")
    assert reply.status == 413 and "inflates to more than" in reply.json["message"]
    noise = gzip.compress(os.urandom(LIMIT + 1000))  # does not shrink: too large as sent
    reply = post(server, "/predict", noise, "gzip")
    assert reply.status == 413 and "compressed body is larger" in reply.json["message"]
    # The server still answers on a new connection.
    assert predictions(post(server, "/predict", gzip.compress(PREDICT), "gzip"))
