"""The Open Inference Protocol's own clients, with their DEFAULT settings, against a real
``mlctl serve``: ``tritonclient.http`` (binary tensors, no Content-Type) and KServe's
REST client (``InferRequest`` / ``InferInput``, binary inputs, JSON or binary outputs).

Their answers must equal ``mlctl predict``'s on the same rows; readiness, metadata and
errors must be what the clients understand (200 ready, 4xx not; the client's own
exception carrying our message)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput
from serve_helpers import FAST, ROW, Server, env_without_tracking
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.integration

TELCO = (
    Path(__file__).resolve().parents[2] / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
)
DOC = Path(__file__).resolve().parents[2] / "docs" / "serving.md"
NUMPY = {"INT64": np.int64, "FP64": np.float64, "BYTES": np.object_}


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("oip"), 900, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def rows(project) -> pd.DataFrame:
    """Six unseen Telco rows (after the 900 trained on), as the CSV has them."""
    full = pd.read_csv(TELCO, dtype=str, keep_default_na=False)
    unseen = full.iloc[900:]
    return unseen[unseen["TotalCharges"].str.strip() != ""].head(6).reset_index(drop=True)


@pytest.fixture(scope="module")
def server(project, rows):
    srv = Server(project, "recipes/churn.yaml")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def expected(project, rows, server) -> pd.DataFrame:
    """``mlctl predict`` on the same rows (run while the server loads the model, and
    its model readiness is watched: see test_model_readiness_while_loading)."""
    rows.to_csv(project / "oip_rows.csv", index=False)
    watcher = threading.Thread(target=watch_loading, args=(server,), daemon=True)
    watcher.start()
    res = subprocess.run(
        [sys.executable, "-m", "mlctl", "predict", "recipes/churn.yaml"]
        + ["--input", "oip_rows.csv", "--output", "oip_scores.csv", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env=env_without_tracking(),
    )
    assert res.returncode == 0, res.stderr
    server.wait_ready()
    watcher.join(30)
    return pd.read_csv(project / "oip_scores.csv", dtype={"prediction": str})


LOADING: list[tuple[int, str, bool]] = []  # (status, error, is_model_ready) until the 200


def watch_loading(server: Server) -> None:
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            reply = server.get("/v2/models/churn/ready", timeout=2)
        except OSError:  # not listening yet
            time.sleep(0.02)
            continue
        error = reply.json.get("error", "") if reply.status != 200 else ""
        LOADING.append((reply.status, error, client.is_model_ready("churn")))
        if reply.status == 200:
            return
        time.sleep(0.02)


@pytest.fixture(scope="module")
def meta(server, expected) -> dict[str, Any]:
    return triton.InferenceServerClient(server.url.removeprefix("http://")).get_model_metadata(
        "churn"
    )


@pytest.fixture
def tc(server, expected) -> triton.InferenceServerClient:
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    yield client
    client.close()


def arrays(meta: dict[str, Any], rows: pd.DataFrame) -> dict[str, tuple[str, np.ndarray]]:
    """Each model input as (datatype, numpy array) from the rows, typed as the model's
    metadata says: BYTES text, INT64 and FP64 numbers."""
    out = {}
    for tensor in meta["inputs"]:
        datatype = tensor["datatype"]
        values = rows[tensor["name"]]
        kind = NUMPY[datatype]
        array = np.array(values.astype(float) if kind is not np.object_ else values, dtype=kind)
        out[tensor["name"]] = (datatype, array)
    return out


def triton_inputs(meta, rows, binary: bool = True, **change) -> list[triton.InferInput]:
    inputs = []
    for name, (datatype, array) in arrays(meta, rows).items():
        name, datatype, array = change.get(name, (name, datatype, array))
        one = triton.InferInput(name, list(array.shape), datatype)
        if binary:
            one.set_data_from_numpy(array)  # the default: binary_data=True
        else:
            one.set_data_from_numpy(array, binary_data=False)
        inputs.append(one)
    return inputs


def check_answer(predict: Any, proba: Any, expected: pd.DataFrame) -> None:
    labels = [p.decode() if isinstance(p, bytes) else p for p in np.asarray(predict).ravel()]
    assert labels == expected["prediction"].tolist()
    proba = np.asarray(proba, dtype=float).reshape(len(expected), 2)
    np.testing.assert_allclose(proba, expected[["proba_No", "proba_Yes"]].to_numpy(), atol=1e-12)


# ----------------------------------------------------------------- tritonclient
def test_tritonclient_health_readiness_and_metadata(tc, meta) -> None:
    assert tc.is_server_live() and tc.is_server_ready()
    assert tc.is_model_ready("churn") and tc.is_model_ready("churn", "1")
    assert not tc.is_model_ready("churn", "99")  # was True: 200 {"ready": false}
    assert not tc.is_model_ready("nope")
    assert meta["name"] == "churn" and meta["versions"] == ["1"]
    types = {t["datatype"] for t in meta["inputs"]}
    assert types == {"BYTES", "INT64", "FP64"}
    assert tc.get_model_metadata("churn", "1")["versions"] == ["1"]
    for name, version, needle in [("churn", "99", "version '99'"), ("nope", "", "model 'nope'")]:
        with pytest.raises(InferenceServerException) as err:
            tc.get_model_metadata(name, version)
        assert err.value.status() == "404" and needle in err.value.message()


def test_model_readiness_while_loading(expected) -> None:
    """Until the model is loaded, model readiness is 503 (was 200 {"ready": false}),
    which tritonclient reads as not ready; then 200 and ready."""
    *loading, last = LOADING
    assert last[0] == 200 and last[2] is True
    assert loading, "the watcher saw no answer before the model was loaded"
    for status, error, _ in loading:
        assert status == 503 and error.startswith("not ready"), loading
    # The client asks just after each raw GET: only the last 503 may be followed by a
    # load finishing in between, so only its client answer may already say ready.
    assert not any(ready for _, _, ready in loading[:-1]), loading


def test_tritonclient_defaults_binary_in_binary_out(tc, meta, rows, expected) -> None:
    result = tc.infer("churn", triton_inputs(meta, rows))  # no outputs: binary_data_output
    response = result.get_response()
    assert response["model_name"] == "churn" and response["model_version"] == "1"
    assert all("binary_data_size" in o["parameters"] for o in response["outputs"])
    check_answer(result.as_numpy("predict"), result.as_numpy("predict_proba"), expected)
    assert result.as_numpy("predict_proba").shape == (len(rows), 2)


def test_tritonclient_json_without_content_type(tc, meta, rows, expected) -> None:
    """All JSON: tritonclient sends no Content-Type at all (was 415)."""
    outputs = [
        triton.InferRequestedOutput(n, binary_data=False) for n in ("predict", "predict_proba")
    ]
    result = tc.infer("churn", triton_inputs(meta, rows, binary=False), outputs=outputs)
    assert all("data" in o for o in result.get_response()["outputs"])
    check_answer(result.as_numpy("predict"), result.as_numpy("predict_proba"), expected)


def test_tritonclient_output_selection_and_binary_per_output(tc, meta, rows, expected) -> None:
    inputs = triton_inputs(meta, rows)
    only = tc.infer("churn", inputs, outputs=[triton.InferRequestedOutput("predict_proba")])
    assert [o["name"] for o in only.get_response()["outputs"]] == ["predict_proba"]
    assert only.as_numpy("predict") is None
    check_answer(expected["prediction"], only.as_numpy("predict_proba"), expected)
    mixed = tc.infer(
        "churn",
        inputs,
        outputs=[
            triton.InferRequestedOutput("predict", binary_data=False),
            triton.InferRequestedOutput("predict_proba", binary_data=True),
        ],
        request_id="req-7",
    )
    doc = mixed.get_response()
    assert doc["id"] == "req-7"
    assert doc["outputs"][0]["data"] == expected["prediction"].tolist()
    assert "data" not in doc["outputs"][1]
    check_answer(mixed.as_numpy("predict"), mixed.as_numpy("predict_proba"), expected)


def test_tritonclient_errors_are_4xx_with_our_message(tc, meta, rows) -> None:
    n = len(rows)
    cases = [
        # an unknown input name
        (
            {"tenure": ("tenur", "INT64", np.arange(n, dtype=np.int64))},
            "400",
            "unknown input 'tenur'",
        ),
        # a datatype the column does not take (BOOL for a numeric column)
        ({"tenure": ("tenure", "BOOL", np.ones(n, dtype=bool))}, "422", "column 'tenure'"),
        # a shape the other inputs do not have
        (
            {"tenure": ("tenure", "INT64", np.arange(n - 1, dtype=np.int64))},
            "400",
            "differ in length",
        ),
    ]
    for change, status, needle in cases:
        for binary in (True, False):
            with pytest.raises(InferenceServerException) as err:
                tc.infer("churn", triton_inputs(meta, rows, binary, **change))
            assert err.value.status() == status, err.value.message()
            assert needle in err.value.message()
    with pytest.raises(InferenceServerException) as err:
        tc.infer("churn", triton_inputs(meta, rows), model_version="99")
    assert err.value.status() == "404" and "version '99'" in err.value.message()
    with pytest.raises(InferenceServerException) as err:
        tc.infer("nope", triton_inputs(meta, rows))
    assert err.value.status() == "404" and "unknown model 'nope'" in err.value.message()


# ------------------------------------------------------------------------ KServe
def kserve_inputs(meta, rows, **change) -> list[InferInput]:
    inputs = []
    for name, (datatype, array) in arrays(meta, rows).items():
        name, datatype, array = change.get(name, (name, datatype, array))
        one = InferInput(name=name, shape=list(array.shape), datatype=datatype)
        one.set_data_from_numpy(array)  # the default: binary_data=True
        inputs.append(one)
    return inputs


def kserve(coro_of: Any) -> Any:
    async def run() -> Any:
        client = InferenceRESTClient(RESTConfig(protocol="v2"))
        try:
            return await coro_of(client)
        finally:
            await client.close()

    return asyncio.run(run())


def test_kserve_health_and_readiness(server, expected) -> None:
    async def probe(client):
        return (
            await client.is_server_live(server.url),
            await client.is_server_ready(server.url),
            await client.is_model_ready(server.url, "churn"),
            await client.is_model_ready(server.url, "nope"),
        )

    assert kserve(probe) == (True, True, True, False)


def test_kserve_defaults_binary_in_json_out(server, meta, rows, expected) -> None:
    request = InferRequest(model_name="churn", infer_inputs=kserve_inputs(meta, rows))
    response = kserve(lambda c: c.infer(server.url, request, model_name="churn"))
    out = {o.name: o for o in response.outputs}
    assert out["predict"].parameters is None  # JSON: no binary_data_size
    check_answer(out["predict"].data, out["predict_proba"].data, expected)


def test_kserve_binary_outputs_and_selection(server, meta, rows, expected) -> None:
    request = InferRequest(
        model_name="churn",
        infer_inputs=kserve_inputs(meta, rows),
        parameters={"binary_data_output": True},
    )
    headers: dict[str, str] = {}
    response = kserve(
        lambda c: c.infer(server.url, request, model_name="churn", response_headers=headers)
    )
    assert headers["content-type"] == "application/octet-stream"
    assert int(headers["inference-header-content-length"]) < int(headers["content-length"])
    out = {o.name: o for o in response.outputs}
    check_answer(out["predict"].data, out["predict_proba"].as_numpy(), expected)
    request = InferRequest(
        model_name="churn",
        infer_inputs=kserve_inputs(meta, rows),
        request_outputs=[RequestedOutput("predict", parameters={"binary_data": True})],
    )
    response = kserve(lambda c: c.infer(server.url, request, model_name="churn"))
    assert [o.name for o in response.outputs] == ["predict"]
    assert [p for p in response.outputs[0].as_numpy()] == expected["prediction"].tolist()


def test_kserve_errors_raise_with_our_message(server, meta, rows) -> None:
    n = len(rows)
    json_text = InferInput("tenure", [n], "INT64", data=["x"] * n)
    wrong_shape = InferInput("tenure", [n + 1], "INT64", data=list(range(n)))
    unknown = InferInput("Tenure", [n], "INT64")
    unknown.set_data_from_numpy(np.arange(n, dtype=np.int64))
    cases = [
        (json_text, 422, "column 'tenure'"),
        (wrong_shape, 400, f"shape [{n + 1}] holds {n + 1} values but 'data' has {n}"),
        (unknown, 400, "unknown input 'Tenure'"),
    ]
    for bad, status, needle in cases:
        inputs = [i for i in kserve_inputs(meta, rows) if i.name != "tenure"] + [bad]
        request = InferRequest(model_name="churn", infer_inputs=inputs)
        with pytest.raises(httpx.HTTPStatusError) as err:
            kserve(lambda c, r=request: c.infer(server.url, r, model_name="churn"))
        assert err.value.response.status_code == status
        assert needle in str(err.value)


# ------------------------------------------------------------------------- docs
def test_the_documented_client_examples_run(server, project) -> None:
    """docs/serving.md's Python examples of the OIP clients section, run as written
    (one after the other, as the second says) against this server."""
    text = DOC.read_text()
    section = text[text.index("### OIP clients") :]
    section = section[: section.index("\n## ")]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2
    script = "\n".join(blocks).replace("127.0.0.1:8080", server.url.removeprefix("http://"))
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    ready, triton_line, kserve_line = res.stdout.strip().splitlines()
    label = server.post("/predict", {"records": [ROW]}).json["predictions"][0]["prediction"]
    assert ready == "True" and triton_line.startswith(f"{label} [")
    assert kserve_line.startswith(f"{{'predict': ['{label}'], 'predict_proba': [")


# ------------------------------------------------------------- hostile binary bodies
@pytest.mark.parametrize(
    "header, tail, needle",
    [
        ("-5", b"", "non-negative integer"),
        ("99999", b"", "body has only"),
        (None, b"\x01" * 8, "Inference-Header-Content-Length"),  # JSON + junk, no header
        ("", b"\x01" * 7, "only 7 bytes of binary data are left"),  # truncated tensor
        ("", b"\x01" * 9, "1 bytes of binary data after the last binary input"),
    ],
)
def test_hostile_binary_bodies_are_400_naming_the_problem(server, expected, header, tail, needle):
    head = (
        b'{"inputs": [{"name": "tenure", "datatype": "INT64", "shape": [1],'
        b' "parameters": {"binary_data_size": 8}}]}'
    )
    headers = {"Inference-Header-Content-Length": header or str(len(head))}
    if header is None:
        headers = {}
    res = server.post(
        "/v2/models/churn/infer",
        head + tail,
        content_type="application/octet-stream",
        headers=headers,
    )
    assert res.status == 400, res.body
    assert needle in res.json["error"]
