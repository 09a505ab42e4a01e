"""Files over ``MLCTL_MAX_DATA_BYTES`` for the streamed readers (``monitor --current``,
``predict --input``): the Telco rows the shared churn project did not train on, a small
limit set through the environment, and Parquet files with chosen row-group sizes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
LIMIT = {"MLCTL_MAX_DATA_BYTES": "128KiB"}


def unseen_rows(trained: int = 900) -> pd.DataFrame:
    """The Telco rows after the first ``trained``, ``TotalCharges`` as numbers."""
    rows = pd.read_csv(TELCO).iloc[trained:].reset_index(drop=True)
    rows["TotalCharges"] = pd.to_numeric(rows["TotalCharges"], errors="coerce")
    return rows


def write(frame: pd.DataFrame, path: Path, group_rows: int) -> Path:
    """``frame`` as Parquet with row groups of ``group_rows`` rows."""
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, group_rows)
    return path
