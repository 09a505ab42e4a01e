"""Request bodies → Python values, refusing what a trusted server must not guess at.

JSON is decoded by msgspec. NaN, Infinity and out-of-range numbers, which strict
parsers refuse, are then read by the standard library as floats, so that the row
checks can name their row and column (422) instead of a 400 for the whole body.

A key given twice in one object is refused (400, naming the key) rather than letting
the last value win. msgspec keeps the last value without a word, so the decoded value
is encoded again (C speed, about a third of the decoding time) and the colons of both
texts are counted: a colon is either a key's separator or inside a string, and
re-encoding keeps every string's colons, so the counts differ exactly when keys (and
their values) were dropped. A body with an escaped colon (``\\u003a``, which
re-encodes as a plain one) or with different counts is parsed a second time, key by
key, by the standard library, which names the repeated key.

CSV (MLflow's ``text/csv``) is read with the standard library: a header, then rows
of exactly as many cells as the header; a short or long row is refused naming its
line, never padded with missing values that the pipeline would impute.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import msgspec

from mlctl.serve.inputs import BadRequest

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
NESTED = "JSON nested too deeply"
MAX_INT_DIGITS = 4000  # the standard library refuses to read longer integers (4300)


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def decode_json(body: bytes) -> Any:
    """JSON → Python (see the module docstring).

    Raises:
        BadRequest: an empty body, malformed or too deeply nested JSON, text that is
            not valid Unicode, or a key repeated in one object.
    """
    if not body.strip():
        raise BadRequest("the request body is empty")
    try:
        value = _decoder.decode(body)
    except RecursionError:
        raise BadRequest(NESTED) from None
    except msgspec.DecodeError as exc:
        return _decode_leniently(body, str(exc))
    if b"\\u003" in body or body.count(b":") != _encoder.encode(value).count(b":"):
        _decode_leniently(body, None)  # raises on a repeated key
    return value


def _decode_leniently(body: bytes, error: str | None) -> Any:
    """The standard library's reading: NaN/Infinity literals, numbers beyond float
    range, each object's keys checked for repeats."""
    try:
        value = json.loads(body, object_pairs_hook=_unique, parse_int=_integer)
    except RecursionError:
        raise BadRequest(NESTED) from None
    except _Repeated as exc:
        key = exc.key if len(exc.key) <= 60 else exc.key[:57] + "..."
        raise BadRequest(
            f"key '{key}' appears more than once in one JSON object; send each key once"
        ) from None
    except ValueError as exc:
        raise BadRequest(f"malformed JSON: {error or exc}") from None
    try:  # the stdlib accepts lone surrogates ("\ud800") that cannot be stored or sent
        _encoder.encode(value)
    except (UnicodeEncodeError, RecursionError):
        raise BadRequest("the body holds text that is not valid Unicode") from None
    return value


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Repeated(key)
            seen.add(key)
    return value


def _integer(text: str) -> int | float:
    """An integer literal; one too long to read becomes ±infinity (refused by the row
    checks as not finite) instead of a parse error for the whole body."""
    if len(text) <= MAX_INT_DIGITS:
        return int(text)
    return float("-inf") if text.startswith("-") else float("inf")


def csv_records(body: bytes) -> list[dict[str, str]]:
    """A CSV body (header line, then rows) → one dict of text values per row.

    Raises:
        BadRequest: not UTF-8, empty, a column named twice in the header, a row with
            fewer or more cells than the header (naming its line), or unreadable CSV.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the CSV body is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise BadRequest("the CSV body is empty")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        seen: set[str] = set()
        for name in header:
            if name in seen:
                raise BadRequest(f"CSV header: column '{name[:60]}' appears twice")
            seen.add(name)
        records = []
        for cells in reader:
            if not cells:  # a blank line
                continue
            if len(cells) != len(header):
                raise BadRequest(
                    f"CSV line {reader.line_num} has {len(cells)} cells; the header has "
                    f"{len(header)}: every row needs one value per column (empty for missing)"
                )
            records.append(dict(zip(header, cells, strict=True)))
    except csv.Error as exc:
        raise BadRequest(f"unreadable CSV at line {reader.line_num}: {exc}") from None
    return records
