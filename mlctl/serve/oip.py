"""The Open Inference Protocol's binary tensor extension, and what OIP clients send.

Triton's and KServe's clients (``tritonclient.http``, ``kserve.InferRequest``) send
tensors in binary by default: the body is the JSON inference header, then each binary
input's raw bytes in the order of ``inputs``. The header's length is in the
``Inference-Header-Content-Length`` HTTP header, and each binary input names its byte
count in ``parameters.binary_data_size`` (and has no ``data``). Fixed-size datatypes
are little-endian, row-major; ``BOOL`` is one byte per value; a ``BYTES`` element is a
4-byte little-endian length followed by that many bytes (UTF-8 text here).

Everything is checked before a value is read, and every violation is a
:class:`BadRequest` (HTTP 400) naming the input: a header length that is not a
non-negative integer no larger than the body, a byte count that is not a non-negative
integer or runs past the body, a byte count that is not ``shape`` × the datatype's
size, ``BYTES`` elements that do not exactly fill their buffer, text that is not
UTF-8, and bytes after the last input that no input claims.

Outputs go back in binary when the request asks: an output's own
``parameters.binary_data`` wins, else the request's ``parameters.binary_data_output``
(both default to JSON). A body without a ``Content-Type`` is read as JSON, as Triton
and KServe do (tritonclient sends none).
"""

from __future__ import annotations

import difflib
import math
import struct
from typing import Any

import msgspec
import numpy as np

from mlctl.serve.body import decode_json
from mlctl.serve.inputs import BadRequest

HEADER = "inference-header-content-length"
EXTENSION = "binary_tensor_data"  # the name Triton lists in GET /v2
OCTET = "application/octet-stream"
# The media types an infer route reads; "" is a body without a Content-Type (JSON).
INFER_TYPES = ("application/json", OCTET, "")
# Fixed-size datatypes → little-endian numpy dtypes (BOOL: one byte, 0 or 1).
DTYPES: dict[str, str] = {
    "BOOL": "|b1",
    "UINT8": "|u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "|i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
_LENGTH = struct.Struct("<I")
_encoder = msgspec.json.Encoder()


def is_infer_path(path: str) -> bool:
    """``/v2/models/{name}[/versions/{v}]/infer``."""
    return path.startswith("/v2/models/") and path.endswith("/infer")


# ------------------------------------------------------------------- requests
def read_request(body: bytes, header_length: str | None) -> dict[str, Any]:
    """The inference request: its JSON header, binary inputs decoded into ``data``.

    Args:
        body: The whole HTTP body.
        header_length: The ``Inference-Header-Content-Length`` header, if sent.

    Raises:
        BadRequest: malformed JSON or any violation listed in the module docstring.
    """
    if header_length is None:
        try:
            doc = decode_json(body)
        except BadRequest as exc:
            if b"binary_data_size" not in body:
                raise
            raise BadRequest(
                f"{exc}; a body with binary tensors needs the Inference-Header-Content-Length "
                "header (the length of its JSON part)"
            ) from None
        tail = b""
    else:
        size = _header_length(header_length, len(body))
        doc = decode_json(body[:size])
        tail = body[size:]
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list):
        raise BadRequest("expected an object with an 'inputs' list")
    decode_binary_inputs(doc["inputs"], tail, header_length is not None)
    return doc


def _header_length(text: str, body_size: int) -> int:
    value = text.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise BadRequest(
            f"Inference-Header-Content-Length must be a non-negative integer, got '{text[:30]}'"
        )
    size = int(value)
    if size > body_size:
        raise BadRequest(
            f"Inference-Header-Content-Length is {size} but the body has only {body_size} bytes"
        )
    return size


def decode_binary_inputs(inputs: list[Any], tail: bytes, has_header: bool = True) -> None:
    """Give each binary input (one with ``parameters.binary_data_size``) its ``data``,
    a flat list of Python values, reading ``tail`` in the order of ``inputs``.

    Raises:
        BadRequest: naming the input (see the module docstring).
    """
    view = memoryview(tail)
    offset = 0
    for i, tensor in enumerate(inputs):
        if not isinstance(tensor, dict):
            continue  # the JSON checks name it
        params = tensor.get("parameters")
        if not isinstance(params, dict) or "binary_data_size" not in params:
            continue
        name = _name(tensor, i)
        if not has_header:
            raise BadRequest(
                f"input {name} has parameters.binary_data_size but the request has no "
                "Inference-Header-Content-Length header"
            )
        if "data" in tensor:
            raise BadRequest(f"input {name} has both 'data' and parameters.binary_data_size")
        size = params["binary_data_size"]
        if type(size) is not int or size < 0:
            raise BadRequest(
                f"input {name}: parameters.binary_data_size must be a non-negative integer, "
                f"got {_show(size)}"
            )
        if size > len(tail) - offset:
            raise BadRequest(
                f"input {name}: binary_data_size is {size} bytes but only "
                f"{len(tail) - offset} bytes of binary data are left in the body"
            )
        count = _count(name, tensor.get("shape"))
        tensor["data"] = decode_tensor(name, tensor.get("datatype"), count, view[offset:][:size])
        offset += size
    if offset != len(tail):
        raise BadRequest(
            f"{len(tail) - offset} bytes of binary data after the last binary input are not "
            "claimed by any input's parameters.binary_data_size"
        )


def decode_tensor(name: str, datatype: Any, count: int, raw: memoryview | bytes) -> list[Any]:
    """``count`` values of ``datatype`` from ``raw``, which they must fill exactly.

    Args:
        name: How errors name the input (already quoted).
    """
    if datatype == "BYTES":
        return _decode_bytes(name, count, memoryview(raw))
    dtype = DTYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        known = ", ".join(["BYTES", *DTYPES])
        raise BadRequest(
            f"input {name}: unknown datatype {_show(datatype)}; expected one of {known}"
        )
    itemsize = np.dtype(dtype).itemsize
    if len(raw) != count * itemsize:
        raise BadRequest(
            f"input {name}: binary_data_size is {len(raw)} bytes but shape holds {count} "
            f"{datatype} values ({count * itemsize} bytes)"
        )
    if datatype == "BOOL":
        values = np.frombuffer(raw, dtype="|u1")
        if values.size and values.max() > 1:
            raise BadRequest(f"input {name}: a BOOL value must be the byte 0 or 1")
        return values.astype(bool).tolist()
    return np.frombuffer(raw, dtype=dtype).tolist()


def _decode_bytes(name: str, count: int, raw: memoryview) -> list[str]:
    out: list[str] = []
    offset, end = 0, len(raw)
    while offset < end:
        if len(out) == count:
            raise BadRequest(
                f"input {name}: {end - offset} bytes left after the {count} BYTES elements "
                "that shape holds"
            )
        if end - offset < 4:
            raise BadRequest(
                f"input {name}: BYTES element {len(out)} is truncated (its 4-byte length "
                f"prefix has only {end - offset} bytes)"
            )
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if length > end - offset:
            raise BadRequest(
                f"input {name}: BYTES element {len(out)} says {length} bytes but only "
                f"{end - offset} are left in its buffer"
            )
        try:
            out.append(str(raw[offset : offset + length], "utf-8"))
        except UnicodeDecodeError:
            raise BadRequest(f"input {name}: BYTES element {len(out)} is not UTF-8 text") from None
        offset += length
    if len(out) != count:
        raise BadRequest(
            f"input {name}: its buffer holds {len(out)} BYTES elements but shape holds {count}"
        )
    return out


def _count(name: str, shape: Any) -> int:
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise BadRequest(
            f"input {name}: a binary input needs 'shape', a list of non-negative integers"
        )
    return math.prod(shape)


def _name(tensor: dict[str, Any], i: int) -> str:
    name = tensor.get("name")
    return f"'{name[:60]}'" if isinstance(name, str) else f"inputs[{i}]"


def _show(value: Any) -> str:
    text = _encoder.encode(value).decode() if _encodable(value) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _encodable(value: Any) -> bool:
    try:
        _encoder.encode(value)
    except (TypeError, msgspec.EncodeError):
        return False
    return True


# ------------------------------------------------------------------- responses
def binary_outputs(doc: dict[str, Any], names: list[str]) -> set[str]:
    """The outputs (of ``names``) to answer in binary: an output's own
    ``parameters.binary_data`` wins over the request's ``binary_data_output``.

    Raises:
        BadRequest: either flag is not a boolean.
    """
    params = doc.get("parameters") if isinstance(doc.get("parameters"), dict) else {}
    default = params.get("binary_data_output", False)
    if type(default) is not bool:
        raise BadRequest(
            f"parameters.binary_data_output must be true or false, got {_show(default)}"
        )
    own: dict[str, bool] = {}
    for out in doc.get("outputs") or []:
        p = out.get("parameters") if isinstance(out, dict) else None
        if isinstance(p, dict) and "binary_data" in p:
            flag = p["binary_data"]
            if type(flag) is not bool:
                raise BadRequest(
                    f"output '{str(out.get('name'))[:60]}': parameters.binary_data must be "
                    f"true or false, got {_show(flag)}"
                )
            own[out["name"]] = flag
    return {n for n in names if own.get(n, default)}


def encode_tensor(datatype: str, data: list[Any]) -> bytes:
    """Flat ``data`` as the binary extension lays out ``datatype``."""
    if datatype == "BYTES":
        parts = []
        for value in data:
            raw = str(value).encode()
            parts += [_LENGTH.pack(len(raw)), raw]
        return b"".join(parts)
    return np.asarray(data, dtype=DTYPES[datatype]).tobytes()


def response_body(body: dict[str, Any], binary: set[str]) -> tuple[bytes, str, dict[str, str]]:
    """The response's bytes, media type and extra headers: plain JSON, or the JSON
    header followed by the binary outputs (their ``data`` moved out)."""
    if not binary:
        return _encoder.encode(body), "application/json", {}
    tails = []
    for out in body["outputs"]:
        if out["name"] in binary:
            raw = encode_tensor(out["datatype"], out.pop("data"))
            out["parameters"] = {**out.get("parameters", {}), "binary_data_size": len(raw)}
            tails.append(raw)
    head = _encoder.encode(body)
    return head + b"".join(tails), OCTET, {"Inference-Header-Content-Length": str(len(head))}


# ---------------------------------------------------------------------- names
def check_input_names(columns: dict[str, Any], model_columns: Any, id_column: str | None) -> None:
    """Every input must be a column of the model (or its id column): a misspelt input
    would otherwise be dropped and its column scored as missing.

    Raises:
        BadRequest: naming the first unknown input (and the closest column name).
    """
    names = [c.name for c in model_columns]
    known = set(names) | ({id_column} if id_column else set())
    for key in columns:
        if key not in known:
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise BadRequest(
                f"unknown input '{key[:60]}': the model has no such column{hint} "
                f"(GET /v2/models/{{name}} lists its inputs)"
            )
