"""Idempotency-Key: one key, one answer, and a 2xx only for an answer in the log.

A request with an ``Idempotency-Key`` header gets a request id derived from the key
and the model name. Before anything is scored it claims that id in the log's
``idempotency`` table with a digest of its rows (SHA-256 of their JSON with sorted
keys). The first claim wins, between worker processes and across restarts, on SQLite
and PostgreSQL alike (the table's primary key decides). Then:

- another digest under the key: 409 naming the key; nothing is scored or written;
- the same digest, rows logged: their stored answer is replayed (the same per-row ids,
  predictions, probabilities, model version and timestamp), no second row;
- the same digest, no rows yet (an earlier attempt failed, or a twin is in flight):
  scored and written; the rows' ids come from the key, so a twin's rows are kept once,
  and the answer sent is the one read back from the log.

Rows logged before the claim table existed have no claim: they are compared by their
stored inputs (and count), so a different body under an old key is a conflict too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

_canonical = msgspec.json.Encoder(enc_hook=str, order="sorted")


class KeyConflict(Exception):
    """The key was used before with other rows (HTTP 409)."""

    def __init__(self, key: str) -> None:
        shown = key if len(key) <= 80 else key[:77] + "..."
        super().__init__(
            f"Idempotency-Key '{shown}' was already used with a different request body; "
            "a retry must send the same rows, a new request needs a new key"
        )
        self.key = key


@dataclass
class Answer:
    """What a scoring route answers: fresh from the model or replayed from the log."""

    name: str
    version: int
    variant: str
    classes: list[Any]
    predictions: list[Any]
    probabilities: list[dict[str, float]] | None
    ids: list[str]
    request_id: str
    ts: float


def digest(records: list[Any]) -> str:
    """The rows' fingerprint: key order does not matter, values and their types do."""
    return hashlib.sha256(_canonical.encode(records)).hexdigest()


def probe_ids(request_id: str, rows: int) -> list[str]:
    """The per-row ids of a request of ``rows`` rows, plus the next one (to see that
    an earlier request under the key had more rows)."""
    return [f"{request_id}-{i}" for i in range(rows + 1)]


def matches(stored: list[tuple], records: list[Any]) -> bool | None:
    """None: nothing logged under the key; True: exactly these rows were logged;
    False: other rows (or another number of them) were."""
    if not stored:
        return None
    by_id = {row[0]: row for row in stored}
    rid = stored[0][1]
    for i, record in enumerate(records):
        row = by_id.pop(f"{rid}-{i}", None)
        if row is None or msgspec.json.decode(row[6]) != record:
            return False
    return not by_id


def replay(stored: list[tuple], rows: int, classes: list[Any]) -> Answer:
    """The answer logged for a request of ``rows`` rows (see :func:`matches`)."""
    by_id = {row[0]: row for row in stored}
    rid = stored[0][1]
    ordered = [by_id[f"{rid}-{i}"] for i in range(rows)]
    first = ordered[0]
    with_proba = first[9] is not None
    return Answer(
        name=first[3],
        version=int(first[4]),
        variant=first[5],
        classes=classes,
        predictions=[_typed(row[7], classes) for row in ordered],
        probabilities=[msgspec.json.decode(row[9]) for row in ordered] if with_proba else None,
        ids=[row[0] for row in ordered],
        request_id=rid,
        ts=float(first[2]),
    )


def _typed(text: str | None, classes: list[Any]) -> Any:
    """A logged prediction (text) as the model gave it: the class it names, or the
    number of a regression."""
    if text is None:
        return None
    for c in classes:
        if str(c) == text:
            return c.item() if hasattr(c, "item") else c  # a NumPy scalar → Python
    if not classes:
        try:
            value = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return text
        return value if isinstance(value, int | float) else text
    return text
