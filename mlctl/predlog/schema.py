"""The prediction log's tables, columns and naming rules: what the writer (``mlctl
serve``) and the reader (``mlctl monitor``) agree on.

Tables: ``predictions`` (one row per scored input row, keyed by its request id),
``feedback`` (ground truth by request id), ``feedback_orphans`` (feedback for ids the
log does not hold, kept and counted), ``idempotency`` (Idempotency-Key claims) and
``failures`` (requests a variant answered with a 5xx or a 422 UNSCORABLE_INPUT, one row
per request: what the rollout's error-rate guard counts; no inputs are kept).
SQLite and PostgreSQL get the same tables; only the floating-point type differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

import msgspec

from mlctl.paths import predictions_db

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    request_id   TEXT PRIMARY KEY,
    batch_id     TEXT NOT NULL,
    ts           {real} NOT NULL,
    model_name   TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    variant      TEXT NOT NULL,
    inputs       TEXT NOT NULL,
    prediction   TEXT,
    score        {real},
    probabilities TEXT,
    latency_ms   {real}
);
-- (ts, request_id): the monitor pages through a window in this order.
CREATE INDEX IF NOT EXISTS predictions_ts_id ON predictions (ts, request_id);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    ts         {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback_orphans (
    request_id TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    ts         {real} NOT NULL,
    seen       INTEGER NOT NULL DEFAULT 1
);
-- Idempotency-Key claims: the digest of the rows first sent under a key (see claim()).
CREATE TABLE IF NOT EXISTS idempotency (
    batch_id TEXT PRIMARY KEY,
    digest   TEXT NOT NULL,
    ts       {real} NOT NULL
);
-- Requests that failed after a variant was chosen (5xx, 422 UNSCORABLE_INPUT); added
-- to older logs by the CREATE IF NOT EXISTS of the next server start.
CREATE TABLE IF NOT EXISTS failures (
    request_id    TEXT PRIMARY KEY,
    ts            {real} NOT NULL,
    model_name    TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    variant       TEXT NOT NULL,
    status        INTEGER NOT NULL,
    code          TEXT NOT NULL,
    rows          INTEGER NOT NULL,
    latency_ms    {real}
);
CREATE INDEX IF NOT EXISTS failures_ts ON failures (ts);
"""
SQLITE_SCHEMA = _SCHEMA.format(real="REAL")
POSTGRES_SCHEMA = _SCHEMA.format(real="DOUBLE PRECISION")

#: The columns of ``failures``, in the order of a written row (:func:`failure_row`).
FAILURE_COLUMNS = (
    "request_id",
    "ts",
    "model_name",
    "model_version",
    "variant",
    "status",
    "code",
    "rows",
    "latency_ms",
)

#: The columns of ``predictions``, in the order of a written row (:func:`rows_for`).
COLUMNS = (
    "request_id",
    "batch_id",
    "ts",
    "model_name",
    "model_version",
    "variant",
    "inputs",
    "prediction",
    "score",
    "probabilities",
    "latency_ms",
)

#: The log's own columns a reader returns beside the decoded inputs.
META_COLUMNS = (
    "request_id",
    "ts",
    "model_name",
    "model_version",
    "variant",
    "prediction",
    "score",
    "probabilities",
)
#: The feedback columns a labelled read adds: the label and when it was last given.
LABEL_COLUMNS = ("label", "label_ts")
#: Variants that answered the traffic; "shadow" rows repeat it with the challenger.
LIVE_VARIANTS = ("champion", "challenger")

#: What a reader selects (``p`` is ``predictions``): META_COLUMNS with the inputs
#: at :data:`INPUTS_AT`.
PREDICTION_SELECT = (
    "p.request_id, p.ts, p.model_name, p.model_version, p.variant, p.inputs, "
    "p.prediction, p.score, p.probabilities"
)
INPUTS_AT = 5  # index of p.inputs in the select lists
LABEL_SELECT = PREDICTION_SELECT + ", f.label, f.ts"  # ``f`` is ``feedback``

#: The columns a reader needs of each table (checked before reading).
READ_TABLES = (
    ("predictions", PREDICTION_SELECT.replace("p.", "")),
    ("feedback", "request_id, label, ts"),
    ("feedback_orphans", "request_id, label, ts, seen"),
)

# ------------------------------------------------------------------ shadow rows

SHADOW_SUFFIX = "-shadow"


def shadow_id(request_id: str) -> str:
    """The id a shadow row is logged under: the champion's row id plus ``-shadow``.
    Feedback names the champion's id; :data:`SHADOW_KEY` maps a shadow row back."""
    return request_id + SHADOW_SUFFIX


# SQL: the request id feedback uses for a row (a shadow row's champion id).
SHADOW_KEY = (
    f"CASE WHEN p.variant = 'shadow' AND p.request_id LIKE '%{SHADOW_SUFFIX}' "
    f"THEN substr(p.request_id, 1, length(p.request_id) - {len(SHADOW_SUFFIX)}) "
    "ELSE p.request_id END"
)

# ------------------------------------------------------------------------- URLs


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///PATH`` URL (as ``mlctl serve`` resolves it)."""
    return Path(url.removeprefix("sqlite:///"))


def default_url(workspace: str | PurePath) -> str:
    """The log of a workspace when ``deploy.serve.log.url`` is not set."""
    return f"sqlite:///{predictions_db(workspace)}"


def display_url(url: str) -> str:
    """The URL without its password (:func:`mlctl.redact.redact_text`)."""
    from mlctl.redact import redact_text

    return redact_text(url)


# ------------------------------------------------------------------------- rows

# Compact JSON; anything JSON has no type for is written as its text, NaN as null
# (strict JSON, so any reader, PostgreSQL's jsonb and msgspec included, can parse it).
_encoder = msgspec.json.Encoder(enc_hook=str)


def rows_for(
    request_ids: Sequence[str],
    batch_id: str,
    ts: float,
    model_name: str,
    model_version: int,
    variant: str,
    inputs: Sequence[dict[str, Any]],
    predictions: Sequence[Any],
    scores: Sequence[float | None],
    probabilities: Sequence[dict[str, float]] | None,
    latency_ms: float,
) -> list[tuple]:
    """Log rows (tuples in :data:`COLUMNS` order) for one scored request."""
    encode = _encoder.encode
    out = []
    for i, rid in enumerate(request_ids):
        out.append(
            (
                rid,
                batch_id,
                ts,
                model_name,
                model_version,
                variant,
                encode(inputs[i]).decode(),
                None if predictions[i] is None else str(predictions[i]),
                scores[i],
                None if probabilities is None else encode(probabilities[i]).decode(),
                latency_ms,
            )
        )
    return out


def failure_row(
    request_id: str,
    ts: float,
    model_name: str,
    model_version: int,
    variant: str,
    status: int,
    code: str,
    rows: int,
    latency_ms: float,
) -> tuple:
    """A ``failures`` row (:data:`FAILURE_COLUMNS` order) for one failed request."""
    return (request_id, ts, model_name, model_version, variant, status, code, rows, latency_ms)
