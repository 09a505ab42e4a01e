"""The OIP binary tensor extension (mlctl.serve.oip): decoding what tritonclient and
KServe send, refusing every malformed body with a 400 that names the input, and
encoding binary outputs the clients read back."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from mlctl.serve.inputs import BadRequest
from mlctl.serve.oip import (
    binary_outputs,
    check_input_names,
    decode_tensor,
    encode_tensor,
    read_request,
    response_body,
)

pytestmark = pytest.mark.unit


def strings(*values: str) -> bytes:
    out = b""
    for v in values:
        raw = v.encode()
        out += struct.pack("<I", len(raw)) + raw
    return out


def body(inputs: list[dict], *raws: bytes, **top) -> tuple[bytes, str]:
    head = json.dumps({"inputs": inputs, **top}).encode()
    return head + b"".join(raws), str(len(head))


def binary(name: str, datatype: str, shape: list[int], raw: bytes) -> tuple[dict, bytes]:
    tensor = {
        "name": name,
        "datatype": datatype,
        "shape": shape,
        "parameters": {"binary_data_size": len(raw)},
    }
    return tensor, raw


def test_binary_inputs_of_every_kind_decode_to_python_values() -> None:
    tenure = np.array([1, 34], dtype="<i8").tobytes()
    charges = np.array([29.85, 56.95], dtype="<f8").tobytes()
    flags = np.array([True, False], dtype="|b1").tobytes()
    small = np.array([1.5, -2], dtype="<f2").tobytes()
    parts = [
        binary("gender", "BYTES", [2], strings("Female", "Mälé")),
        binary("tenure", "INT64", [2, 1], tenure),
        binary("MonthlyCharges", "FP64", [2], charges),
        binary("flag", "BOOL", [2], flags),
        binary("half", "FP16", [2], small),
    ]
    data, length = body(
        [t for t, _ in parts]
        + [{"name": "json", "datatype": "INT32", "shape": [2], "data": [7, 8]}],
        *[r for _, r in parts],
    )
    doc = read_request(data, length)
    got = {t["name"]: t["data"] for t in doc["inputs"]}
    assert got == {
        "gender": ["Female", "Mälé"],
        "tenure": [1, 34],
        "MonthlyCharges": [29.85, 56.95],
        "flag": [True, False],
        "half": [1.5, -2.0],
        "json": [7, 8],
    }
    assert type(got["tenure"][0]) is int and type(got["flag"][0]) is bool


def test_a_body_without_the_header_is_json() -> None:
    doc = read_request(b'{"inputs": [{"name": "a", "data": [1]}]}', None)
    assert doc["inputs"][0]["data"] == [1]


@pytest.mark.parametrize(
    "header, needle",
    [
        ("-1", "non-negative integer"),
        ("abc", "non-negative integer"),
        ("1e3", "non-negative integer"),
        ("", "non-negative integer"),
        ("٣", "non-negative integer"),  # a Unicode digit int() would read
        ("99999999999999999999999", "non-negative integer"),
        ("100000", "body has only"),
    ],
)
def test_a_bad_header_length_is_refused(header, needle) -> None:
    data, _ = body([{"name": "a", "data": [1]}])
    with pytest.raises(BadRequest, match=needle):
        read_request(data, header)


def test_binary_data_without_the_header_says_what_is_missing() -> None:
    tensor, raw = binary("tenure", "INT64", [1], np.array([1], "<i8").tobytes())
    data, _ = body([tensor], raw)
    with pytest.raises(BadRequest, match="malformed JSON.*needs the Inference-Header-Content"):
        read_request(data, None)


def test_a_header_length_cutting_the_json_is_malformed_json() -> None:
    data, length = body([{"name": "a", "data": [1]}])
    with pytest.raises(BadRequest, match="malformed JSON"):
        read_request(data, str(int(length) - 3))


@pytest.mark.parametrize(
    "size, needle",
    [
        (-1, "non-negative integer"),
        (1.5, "non-negative integer"),
        ("16", "non-negative integer"),
        (True, "non-negative integer"),
        (10**30, "only 16 bytes of binary data are left"),
        (17, "only 16 bytes of binary data are left"),
    ],
)
def test_a_bad_binary_data_size_names_the_input(size, needle) -> None:
    raw = np.array([1, 2], dtype="<i8").tobytes()
    tensor = {"name": "tenure", "datatype": "INT64", "shape": [2]}
    tensor["parameters"] = {"binary_data_size": size}
    data, length = body([tensor], raw)
    with pytest.raises(BadRequest, match=needle) as err:
        read_request(data, length)
    assert "'tenure'" in str(err.value)


def test_truncated_binary_data_is_refused() -> None:
    tensor, raw = binary("tenure", "INT64", [2], np.array([1, 2], "<i8").tobytes())
    data, length = body([tensor], raw[:-1])
    with pytest.raises(BadRequest, match="'tenure'.*only 15 bytes"):
        read_request(data, length)


def test_a_size_not_matching_shape_times_datatype_is_refused() -> None:
    raw = np.array([1, 2], "<i4").tobytes()  # 8 bytes: two INT32, sent as INT64 [2]
    data, length = body([binary("tenure", "INT64", [2], raw)[0]], raw)
    with pytest.raises(BadRequest, match=r"'tenure'.*8 bytes but shape holds 2 INT64.*16 bytes"):
        read_request(data, length)


def test_bytes_left_over_after_the_last_input_are_refused() -> None:
    tensor, raw = binary("tenure", "INT64", [1], np.array([1], "<i8").tobytes())
    data, length = body([tensor], raw, b"\x00\x01")
    with pytest.raises(BadRequest, match="2 bytes of binary data after the last binary input"):
        read_request(data, length)


def test_binary_data_without_the_header_or_beside_data_is_refused() -> None:
    tensor, raw = binary("tenure", "INT64", [1], np.array([1], "<i8").tobytes())
    data, _ = body([tensor])
    with pytest.raises(BadRequest, match="'tenure'.*no Inference-Header-Content-Length"):
        read_request(data, None)
    data, length = body([{**tensor, "data": [1]}], raw)
    with pytest.raises(BadRequest, match="'tenure' has both 'data'"):
        read_request(data, length)


@pytest.mark.parametrize(
    "shape, raw, needle",
    [
        ([2], strings("a"), "holds 1 BYTES elements but shape holds 2"),
        ([1], strings("a", "b"), "5 bytes left after the 1 BYTES elements"),
        ([1], strings("abc")[:-1], "element 0 says 3 bytes but only 2 are left"),
        ([2], strings("a") + b"\x01\x00", "element 1 is truncated"),
        ([1], struct.pack("<I", 0xFFFFFFFF) + b"x", "says 4294967295 bytes but only 1"),
        ([1], strings("x")[:4] + b"\xff", "element 0 is not UTF-8"),
        ([0], b"", None),
        ([2], strings("", "é"), None),
    ],
)
def test_bytes_elements_must_exactly_fill_their_buffer(shape, raw, needle) -> None:
    data, length = body([binary("gender", "BYTES", shape, raw)[0]], raw)
    if needle is None:
        assert len(read_request(data, length)["inputs"][0]["data"]) == shape[0]
        return
    with pytest.raises(BadRequest, match=needle) as err:
        read_request(data, length)
    assert "'gender'" in str(err.value)


@pytest.mark.parametrize(
    "tensor, needle",
    [
        ({"datatype": "INT64"}, "needs 'shape'"),
        ({"datatype": "INT64", "shape": [-1]}, "needs 'shape'"),
        ({"datatype": "INT64", "shape": 2}, "needs 'shape'"),
        ({"datatype": "FLOAT", "shape": [1]}, 'unknown datatype "FLOAT"'),
        ({"shape": [1]}, "unknown datatype null"),
    ],
)
def test_a_binary_input_needs_a_shape_and_a_known_datatype(tensor, needle) -> None:
    raw = b"\x00" * 8
    full = {"name": "x", **tensor, "parameters": {"binary_data_size": 8}}
    data, length = body([full], raw)
    with pytest.raises(BadRequest, match=needle):
        read_request(data, length)


def test_a_bool_byte_other_than_0_or_1_is_refused() -> None:
    with pytest.raises(BadRequest, match="'flag': a BOOL value must be the byte 0 or 1"):
        decode_tensor("'flag'", "BOOL", 2, b"\x01\x02")


def test_a_huge_shape_is_only_arithmetic() -> None:
    with pytest.raises(BadRequest, match="shape holds 1000000000000000000000 INT64"):
        decode_tensor("'x'", "INT64", 10**21, b"\x00" * 8)


def test_binary_outputs_follow_the_request() -> None:
    names = ["predict", "predict_proba"]
    assert binary_outputs({}, names) == set()
    assert binary_outputs({"parameters": {"binary_data_output": True}}, names) == set(names)
    doc = {
        "parameters": {"binary_data_output": True},
        "outputs": [{"name": "predict", "parameters": {"binary_data": False}}],
    }
    assert binary_outputs(doc, names) == {"predict_proba"}
    doc = {"outputs": [{"name": "predict_proba", "parameters": {"binary_data": True}}]}
    assert binary_outputs(doc, names) == {"predict_proba"}
    with pytest.raises(BadRequest, match="binary_data_output must be true or false"):
        binary_outputs({"parameters": {"binary_data_output": "yes"}}, names)
    with pytest.raises(BadRequest, match="'predict': parameters.binary_data must be"):
        binary_outputs({"outputs": [{"name": "predict", "parameters": {"binary_data": 1}}]}, names)


def test_binary_outputs_round_trip() -> None:
    body_ = {
        "model_name": "churn",
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [2], "data": ["Yes", "Nö"]},
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [2, 2],
                "data": [0.1, 0.9, 1, 0],
            },
        ],
    }
    content, media, headers = response_body(body_, {"predict_proba"})
    assert media == "application/octet-stream"
    size = int(headers["Inference-Header-Content-Length"])
    head = json.loads(content[:size])
    proba, predict = head["outputs"][1], head["outputs"][0]
    assert "data" not in proba and proba["parameters"]["binary_data_size"] == 32
    assert predict["data"] == ["Yes", "Nö"]
    assert np.frombuffer(content[size:], "<f8").tolist() == [0.1, 0.9, 1.0, 0.0]
    assert encode_tensor("BYTES", ["Yes", "Nö"]) == strings("Yes", "Nö")
    assert decode_tensor("'p'", "BYTES", 2, strings("Yes", "Nö")) == ["Yes", "Nö"]
    plain, media, headers = response_body({"outputs": []}, set())
    assert media == "application/json" and headers == {} and json.loads(plain) == {"outputs": []}


def test_unknown_input_names_are_refused_with_a_hint() -> None:
    class Col:
        def __init__(self, name: str) -> None:
            self.name = name

    cols = [Col("tenure"), Col("gender")]
    check_input_names({"tenure": [], "customerID": []}, cols, "customerID")
    with pytest.raises(BadRequest, match="unknown input 'tenur'.*did you mean 'tenure'"):
        check_input_names({"tenur": [1]}, cols, None)
