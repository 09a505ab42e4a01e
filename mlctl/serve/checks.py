"""Request-level checks beyond rows: feedback items and Open Inference Protocol fields.

Rows are checked in :mod:`mlctl.serve.inputs`; here are the other fields a client
sends. A field that is wrong is refused with a message naming it, never guessed at:
a feedback label that is not finite or not a class of the model (422), an OIP ``id``
that is not a string, an output or input name that is unknown or given twice, a
``shape`` that does not match the data (400).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlctl.serve.inputs import BadRequest

MAX_ID = 200  # request ids are 34-50 characters; anything much longer is not one of ours
OIP_DATATYPES = frozenset(
    {"BOOL", "BYTES", "FP16", "FP32", "FP64"}
    | {f"{s}INT{n}" for s in ("", "U") for n in (8, 16, 32, 64)}
)


@dataclass(frozen=True)
class ItemError:
    """One bad feedback field: its item (0-based in ``feedback``, None for the single
    form), field and what is wrong."""

    item: int | None
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item, "field": self.field, "message": self.message}


class InvalidFeedback(Exception):
    """Feedback items that cannot be stored (HTTP 422)."""

    def __init__(self, errors: list[ItemError]) -> None:
        self.errors = errors[:20]
        first = errors[0]
        where = f"feedback[{first.item}]." if first.item is not None else ""
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{where}{first.field}: {first.message}{more}")


def feedback_items(
    items: list[tuple[Any, Any]], classes: list[Any] | None, single: bool
) -> list[tuple[str, str]]:
    """(request id, label) pairs checked; the label as the class's own text.

    Args:
        items: (request_id, label) as sent.
        classes: The served model's classes; ``[]`` for a regression model, None when
            no model is loaded (then only finiteness is checked).
        single: the one-item form (errors name no item number).

    Raises:
        InvalidFeedback: naming each bad item and field.
    """
    errors: list[ItemError] = []
    out: list[tuple[str, str]] = []
    for i, (request_id, label) in enumerate(items):
        where = None if single else i
        problem = _request_id_problem(request_id)
        if problem:
            errors.append(ItemError(where, "request_id", problem))
        text, problem = _label(label, classes)
        if problem:
            errors.append(ItemError(where, "label", problem))
        out.append((request_id, text))
    if errors:
        raise InvalidFeedback(errors)
    return out


def _request_id_problem(request_id: str) -> str | None:
    if not request_id:
        return "must not be empty"
    if len(request_id) > MAX_ID:
        return f"is {len(request_id)} characters long; request ids have at most {MAX_ID}"
    if not request_id.isprintable():
        return "holds control characters; send the request_id a prediction answered"
    return None


def _label(label: Any, classes: list[Any] | None) -> tuple[str, str | None]:
    if isinstance(label, float) and not math.isfinite(label):
        return "", f"expected a finite value, got {label}"
    if classes is None:
        return str(label), None
    if not classes:  # regression: a number
        if isinstance(label, bool) or not isinstance(label, int | float):
            return "", f"expected a number (the model predicts values), got {_show(label)}"
        return str(label), None
    for c in classes:
        if isinstance(label, bool) != isinstance(c, bool):
            continue
        if label == c or (isinstance(label, str) and label == str(c)):
            return str(c), None
    shown = ", ".join(str(c) for c in classes[:20])
    return "", f"{_show(label)} is not a class of the model (classes: {shown})"


def _show(value: Any) -> str:
    """A value as JSON readers know it (``'Maybe'``, ``true``, ``1.5``), cut to 40."""
    if isinstance(value, bool):
        text = str(value).lower()
    else:
        text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ----------------------------------------------------------------------- OIP
def oip_id(doc: dict[str, Any]) -> str | None:
    """The request's ``id`` (echoed in the response); a string by the protocol."""
    if "id" not in doc or doc["id"] is None:
        return None
    value = doc["id"]
    if not isinstance(value, str):
        kind = {dict: "an object", list: "a list", bool: "a boolean"}.get(type(value), "a number")
        raise BadRequest(f"'id' must be a string, got {kind}")
    return value


def oip_outputs(doc: dict[str, Any], known: list[str]) -> set[str] | None:
    """The output names asked for (None: all); unknown names are refused."""
    wanted = doc.get("outputs")
    if wanted is None:
        return None
    if not isinstance(wanted, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in wanted
    ):
        raise BadRequest("'outputs' must be a list of objects with a 'name'")
    names = [o["name"] for o in wanted]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BadRequest(
            f"unknown output '{unknown[0][:60]}' in 'outputs'; this model has: {', '.join(known)}"
        )
    return set(names) or None


def oip_columns(doc: dict[str, Any]) -> dict[str, list[Any]]:
    """``inputs`` (one tensor per column) → column lists, each tensor checked."""
    if not isinstance(doc.get("parameters", {}), dict):
        raise BadRequest("'parameters' must be an object")
    columns: dict[str, list[Any]] = {}
    for i, tensor in enumerate(doc["inputs"]):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise BadRequest(f"inputs[{i}] must be an object with a 'name'")
        name = tensor["name"]
        if name in columns:
            raise BadRequest(f"input '{name[:60]}' appears more than once in 'inputs'")
        data = tensor.get("data")
        if not isinstance(data, list):
            raise BadRequest(f"inputs[{i}] ('{name[:60]}') needs 'data' (a list)")
        datatype = tensor.get("datatype")
        if datatype is not None and datatype not in OIP_DATATYPES:
            raise BadRequest(
                f"input '{name[:60]}': unknown datatype {_show(datatype)}; "
                f"expected one of {', '.join(sorted(OIP_DATATYPES))}"
            )
        columns[name] = _flatten(data)
        _check_shape(name, tensor.get("shape"), len(columns[name]))
    return columns


def _check_shape(name: str, shape: Any, count: int) -> None:
    if shape is None:
        return
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise BadRequest(f"input '{name[:60]}': 'shape' must be a list of non-negative integers")
    size = math.prod(shape)
    if shape and size != count:
        raise BadRequest(
            f"input '{name[:60]}': shape {shape} holds {size} values but 'data' has {count}"
        )


def _flatten(data: list[Any]) -> list[Any]:
    if data and all(isinstance(d, list) and len(d) == 1 for d in data):
        return [d[0] for d in data]
    return data
