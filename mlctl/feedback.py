"""``mlctl feedback``: ground truth from a CSV or Parquet file into the prediction log.

Two ways, with the rules of ``POST /feedback`` (:func:`mlctl.serve.checks.feedback_items`:
a request id that is not empty, at most 200 printable characters; a label that is
finite and, for a classifier, one of the served model's classes; for a regressor a
number):

- by default straight into the recipe's prediction log (``deploy.serve.log.url``),
  through :meth:`mlctl.predlog.PredictionLog.feedback`, as the server stores it: ids
  the log holds are joined (the last label wins, so a re-run is harmless), others are
  kept in ``feedback_orphans`` and counted. The classes are those of the version the
  recipe serves (``deploy.serve.alias``);
- with ``url``, to a running server's ``POST /feedback`` in chunks of at most
  ``deploy.serve.max_batch_rows`` items (and ``max_body_bytes``), with the API key of
  ``deploy.serve.api_key_env``; the classes come from its ``GET /model``.

Every row is checked before anything is sent: a missing column, an empty file,
duplicate ids or labels the model does not know are refused with nothing written,
unless ``skip_invalid`` (then the bad rows are counted with their reasons and the
others sent).
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlctl.errors import FeedbackError, PredictionLogError, UsageError

MAX_SHOWN = 5  # rejected rows named in a message
LOG_CHUNK = 1000  # items per write into the log
RETRIES = 5  # per chunk, on 503 (Retry-After) or a dropped connection

Emit = Callable[[str, dict[str, Any]], None]


@dataclass
class Rejected:
    row: int  # 1-based data row of the file (the header is row 0)
    request_id: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "request_id": self.request_id, "reason": self.reason}


@dataclass
class FeedbackReport:
    """What was sent and what became of it."""

    file: str
    target: str  # the log (no password) or the server's URL
    rows: int
    sent: int = 0
    matched: int = 0  # joined to a logged prediction
    orphans: int = 0  # ids the log does not hold: kept aside and counted
    orphan_ids: list[str] = field(default_factory=list)  # the first few
    rejected: list[Rejected] = field(default_factory=list)
    chunks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "target": self.target,
            "rows": self.rows,
            "sent": self.sent,
            "matched": self.matched,
            "orphans": self.orphans,
            "orphan_ids": self.orphan_ids[:MAX_SHOWN],
            "rejected": len(self.rejected),
            "rejected_rows": [r.to_dict() for r in self.rejected[:100]],
            "chunks": self.chunks,
        }


# ------------------------------------------------------------------ the file


def read_labels(path: str | Path, id_column: str, label_column: str) -> list[tuple[str, Any]]:
    """(request id, label) per data row, labels as Python values (``1``, ``"Yes"``,
    ``True``, ``2.5``; a missing label is ``nan``).

    Raises:
        FeedbackError: unreadable file, unknown format, a missing column, no rows,
            duplicate ids.
    """
    import pandas as pd

    from mlctl.data.load import SUFFIXES

    p = Path(path)
    fmt = SUFFIXES.get(p.suffix.lower())
    if fmt is None:
        raise FeedbackError(
            f"--labels: {p} is not a CSV or Parquet file (by its extension)",
            hint="use a .csv or .parquet file",
        )
    if not p.is_file():
        raise FeedbackError(f"--labels: {p} does not exist")
    try:
        if fmt == "csv":
            frame = pd.read_csv(p, dtype={id_column: str}, keep_default_na=True)
        else:
            frame = pd.read_parquet(p)
    except pd.errors.EmptyDataError:
        raise FeedbackError(f"--labels: {p} is empty (not even a header)") from None
    except Exception as exc:
        raise FeedbackError(f"--labels: cannot read {p}: {first_line(exc)}") from None
    missing = [c for c in (id_column, label_column) if c not in frame.columns]
    if missing:
        shown = ", ".join(repr(str(c)) for c in list(frame.columns)[:20])
        raise FeedbackError(
            f"--labels: {p} has no column {' or '.join(repr(c) for c in missing)}; "
            f"its columns: {shown}",
            hint="name the columns with --id-column and --label-column",
        )
    if frame.empty:
        raise FeedbackError(f"--labels: {p} has a header but no rows: no labels to send")
    ids = [None if _missing(v) else str(v) for v in frame[id_column].tolist()]
    dup = pd.Series(ids, dtype=object).dropna()
    dup = dup[dup.duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        rows = [i + 1 for i, v in enumerate(ids) if v == first]
        raise FeedbackError(
            f"--labels: {dup.nunique()} request id(s) appear more than once in "
            f"{id_column!r}, e.g. {first!r} on rows {', '.join(map(str, rows[:5]))}",
            hint="keep one label per request id (the last one sent would win)",
        )
    labels = [_plain(v) for v in frame[label_column].tolist()]
    return [("" if rid is None else rid, label) for rid, label in zip(ids, labels, strict=True)]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (what a JSON client sends); missing as nan."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    return float("nan") if value is None else value


def check_items(
    items: list[tuple[str, Any]], classes: list[Any] | None
) -> tuple[list[tuple[str, str]], list[Rejected]]:
    """Items as ``POST /feedback`` would store them, and the rows it would refuse."""
    from mlctl.serve.checks import InvalidFeedback, feedback_items

    try:
        return feedback_items(items, classes, single=False), []
    except InvalidFeedback:
        pass
    good, bad = [], []
    for i, (rid, label) in enumerate(items):
        try:
            good += feedback_items([(rid, label)], classes, single=True)
        except InvalidFeedback as exc:
            bad.append(Rejected(i + 1, rid, str(exc)))
    return good, bad


# ------------------------------------------------------------------ sending


def send_feedback(
    loaded: Any,
    labels: str | Path,
    id_column: str,
    label_column: str,
    *,
    url: str | None = None,
    workspace: str | None = None,
    skip_invalid: bool = False,
    on_event: Emit | None = None,
) -> FeedbackReport:
    """Send the labels of a file (see the module docstring).

    Raises:
        FeedbackError: the file (column, rows, duplicates, invalid rows without
            ``skip_invalid``), or the server refused a chunk.
        PredictionLogError: no prediction log to write into.
        UsageError: ``api_key_env`` names an unset variable; a bad ``url``.
    """
    emit = on_event or (lambda kind, data: None)
    r = loaded.recipe
    items = read_labels(labels, id_column, label_column)
    emit("stage", {"message": f"checking {len(items):,} labels"})
    if url:
        server = _Server(url, r.deploy.serve)
        classes = server.classes()
        target = server.url
    else:
        log_url = _log_url(loaded, workspace)
        classes = _served_classes(loaded, workspace)
        target = _display(log_url)
    good, bad = check_items(items, classes)
    report = FeedbackReport(str(labels), target, len(items), rejected=bad)
    if bad and not skip_invalid:
        shown = "; ".join(f"row {b.row} ({b.request_id!r}): {b.reason}" for b in bad[:MAX_SHOWN])
        more = f" (and {len(bad) - MAX_SHOWN} more)" if len(bad) > MAX_SHOWN else ""
        raise FeedbackError(
            f"--labels: {len(bad)} of {len(items)} rows cannot be stored, nothing was sent: "
            f"{shown}{more}",
            hint="fix those rows, or pass --skip-invalid to send the others",
        )
    if url:
        server.send(good, report, emit)
    else:
        _write_log(log_url, good, report, emit)
    return report


def _log_url(loaded: Any, workspace: str | None) -> str:
    from mlctl.monitor.log_source import LogSource
    from mlctl.predlog.schema import default_url
    from mlctl.tracking.workspace import for_recipe

    r = loaded.recipe
    url = r.deploy.serve.log.url or default_url(for_recipe(loaded, workspace).root)
    LogSource(url).check()  # a missing log: nothing to attach labels to
    return url


def _display(url: str) -> str:
    from mlctl.predlog.schema import display_url

    return display_url(url)


def _served_classes(loaded: Any, workspace: str | None) -> list[Any]:
    """The classes of the version the recipe serves (``[]`` for a regressor), as the
    server checks labels against them."""
    from mlctl.tracking.artifacts import load_verified_model
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import for_recipe, open_existing

    r = loaded.recipe
    ws = for_recipe(loaded, workspace)
    open_existing(ws)
    from mlctl.predict.score import Scorer

    model = load_verified_model(Registry(ws), f"{r.model_name}@{r.deploy.serve.alias}")
    return Scorer(model.pipeline, compiled=False).classes  # as the server's model.classes is


def _write_log(url: str, items: list[tuple[str, str]], report: FeedbackReport, emit) -> None:
    from mlctl.predlog import LogUnavailable, PredictionLog

    log = PredictionLog(url)
    try:
        log.open()
        for start in range(0, len(items), LOG_CHUNK):
            chunk = items[start : start + LOG_CHUNK]
            stored = log.feedback(chunk)
            _count(report, len(chunk), stored.accepted, stored.unknown)
            emit("rows", {"rows": report.sent})
    except LogUnavailable as exc:
        raise PredictionLogError(
            f"{exc}; {report.sent} of {len(items)} labels were stored",
            hint="labels are idempotent: run the command again once the log is writable",
        ) from None
    finally:
        log.close()


def _count(report: FeedbackReport, sent: int, accepted: int, unknown: list[str]) -> None:
    report.sent += sent
    report.matched += accepted
    report.orphans += len(unknown)
    report.orphan_ids += unknown[: max(0, MAX_SHOWN - len(report.orphan_ids))]
    report.chunks += 1


class _Server:
    """A running ``mlctl serve``: its classes and ``POST /feedback`` in chunks."""

    def __init__(self, url: str, settings: Any) -> None:
        import os

        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--url {url!r} is not an http:// or https:// URL")
        self.url = url.rstrip("/")
        self.max_items = settings.max_batch_rows
        self.max_bytes = settings.max_body_bytes
        self.headers = {"content-type": "application/json"}
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env)
            if not key:
                raise UsageError(
                    f"deploy.serve.api_key_env names {settings.api_key_env}, which is not set",
                    hint=f"export {settings.api_key_env}=... (the server's API key)",
                )
            self.headers["authorization"] = f"Bearer {key}"

    def classes(self) -> list[Any]:
        status, body = self._call("GET", "/model", None)
        if status != 200:
            raise FeedbackError(f"GET {self.url}/model answered {status}: {_error(body)}")
        return list(body.get("classes") or [])

    def send(self, items: list[tuple[str, str]], report: FeedbackReport, emit) -> None:
        for chunk in self._chunks(items):
            body = {"feedback": [{"request_id": rid, "label": lab} for rid, lab in chunk]}
            status, answer = self._post(body)
            if status != 200:
                raise FeedbackError(
                    f"POST {self.url}/feedback answered {status}: {_error(answer)}; "
                    f"{report.sent} of {len(items)} labels were stored",
                    hint="labels are idempotent: fix the cause and run the command again",
                )
            _count(report, len(chunk), int(answer["accepted"]), list(answer["unknown"]))
            emit("rows", {"rows": report.sent})

    def _chunks(self, items: list[tuple[str, str]]):
        chunk: list[tuple[str, str]] = []
        size = 20
        for rid, label in items:
            item = len(json.dumps({"request_id": rid, "label": label})) + 1
            if chunk and (len(chunk) >= self.max_items or size + item > self.max_bytes):
                yield chunk
                chunk, size = [], 20
            chunk.append((rid, label))
            size += item
        if chunk:
            yield chunk

    def _post(self, body: dict[str, Any]) -> tuple[int, Any]:
        delay = 0.5
        for attempt in range(RETRIES):
            try:
                status, answer = self._call("POST", "/feedback", body)
            except FeedbackError:
                if attempt == RETRIES - 1:
                    raise
                status, answer = 0, None
            if status not in (0, 503):
                return status, answer
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        return status, answer

    def _call(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        for k, v in self.headers.items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return res.status, _json(res.read())
        except urllib.error.HTTPError as err:
            return err.code, _json(err.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FeedbackError(
                f"cannot reach {self.url}{path}: {reason}",
                hint="is mlctl serve running there?",
            ) from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return {"message": raw[:200].decode(errors="replace")}


def _error(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err)
        return str(body.get("message") or err)
    return str(body)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
