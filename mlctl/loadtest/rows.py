"""The rows replayed: a ``--rows`` file, a sample of the recipe's data, or the served
model's input example; checked against the served model's columns and encoded once
into request bodies before the load starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlctl.errors import DataError, RowsRejected

SAMPLE_ROWS = 1000  # distinct rows replayed (cycled); a seeded sample of bigger data
SEED = 0


@dataclass(frozen=True)
class Rows:
    """JSON-ready rows and where they came from (for the report)."""

    records: list[dict[str, Any]]
    source: str


def from_frame(frame: Any, source: str, columns: list[dict[str, Any]], keep: set[str]) -> Rows:
    """A seeded sample of ``frame``'s rows, with only the model's columns (and ``keep``:
    the id column).

    Raises:
        RowsRejected: the frame lacks columns the model requires.
    """
    names = [c["name"] for c in columns]
    missing = [c["name"] for c in columns if c.get("required", True) and c["name"] not in frame]
    if missing:
        raise RowsRejected(
            f"{source} lacks {len(missing)} column(s) the served model needs: {', '.join(missing)}",
            hint=f"the model takes: {', '.join(names)}",
        )
    wanted = [n for n in names if n in frame] + [n for n in keep if n in frame and n not in names]
    if len(frame) > SAMPLE_ROWS:
        frame = frame.sample(n=SAMPLE_ROWS, random_state=SEED)
    # pandas' JSON writer: NaN as null, numpy scalars as JSON numbers, times as ISO 8601
    records = json.loads(frame[wanted].to_json(orient="records", date_format="iso"))
    if not records:
        raise RowsRejected(f"{source} has no rows to replay")
    return Rows(records, source)


def check_columns(
    found: list[str], source: str, columns: list[dict[str, Any]], allowed: set[str]
) -> None:
    """A ``--rows`` file holds the model's columns and nothing else (but ``allowed``).

    Raises:
        RowsRejected: naming the unexpected and the missing columns.
    """
    names = [c["name"] for c in columns]
    extra = [c for c in found if c not in names and c not in allowed]
    if extra:
        raise RowsRejected(
            f"{source} has {len(extra)} column(s) the served model does not take: "
            f"{', '.join(map(str, extra))}",
            hint=f"drop them; the model takes: {', '.join(names)}",
        )


def from_file(path: str, columns: list[dict[str, Any]], allowed: set[str]) -> Rows:
    """``--rows FILE`` (CSV or Parquet, by extension).

    Raises:
        RowsRejected: unreadable, empty, or columns that do not fit the model.
    """
    from mlctl.data.load import read_table

    try:
        frame, _ = read_table(Path(path))
    except DataError as exc:
        raise RowsRejected(exc.message.replace("data.source:", "--rows:", 1)) from None
    source = f"--rows {path}"
    check_columns(list(frame.columns), source, columns, allowed)
    return from_frame(frame, source, columns, allowed)


def from_recipe(loaded: Any, columns: list[dict[str, Any]]) -> Rows | None:
    """A sample of the recipe's data (None when its files are not at hand)."""
    from mlctl.data.load import read_table

    data = loaded.recipe.data
    try:
        frame, files = read_table(loaded.resolve_path(data.source), data.format, data.csv_separator)
    except DataError:
        return None
    keep = {data.id_column} if data.id_column else set()
    shown = _relative(files[0]) if len(files) == 1 else data.source
    return from_frame(frame, f"the recipe's data ({shown})", columns, keep)


def from_example(example: dict[str, Any] | None) -> Rows | None:
    if not example:
        return None
    return Rows([example], "the served model's input example")


def bodies(rows: Rows, per_request: int) -> list[bytes]:
    """``/predict`` bodies of ``per_request`` rows each, cycling through the rows so
    every body is full."""
    records = rows.records
    count = max(1, len(records) // per_request) if len(records) >= per_request else 1
    out = []
    for i in range(count):
        chunk = [records[(i * per_request + j) % len(records)] for j in range(per_request)]
        out.append(json.dumps({"records": chunk}, separators=(",", ":")).encode())
    return out


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
