"""Which columns are numeric, categorical, an id, or left out.

MLflow Recipes fed every column except the target to the project's
``transformer_fn``; an mlctl recipe lists its feature columns, so the importer
reads the data once and sorts the columns with the rules ``mlctl init`` uses
(:func:`mlctl.scaffold.profile.profile_columns`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from mlctl.scaffold.profile import profile_columns


@dataclass
class Columns:
    """The columns of a table, sorted into what an mlctl recipe needs."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    coerce: dict[str, str] = field(default_factory=dict)
    id_column: str | None = None
    dropped: dict[str, str] = field(default_factory=dict)  # column → why
    rows: int = 0


def sort_columns(df: pd.DataFrame, target: str) -> Columns:
    """Numeric and categorical feature columns of ``df``, besides the target.

    Numbers stored as text with a few blanks (Telco's ``TotalCharges``) are numeric
    with a ``float`` coercion; the first column with a distinct value on every row is
    the id column; other identifiers, constant, high-cardinality, free-text and date
    columns are left out, each with the reason ``mlctl init`` gives.
    """
    out = Columns(rows=len(df))
    for p in profile_columns(df, exclude={target}):
        if p.kind == "numeric":
            out.numeric.append(p.name)
            if p.coerce:
                out.coerce[p.name] = p.coerce
        elif p.kind == "categorical":
            out.categorical.append(p.name)
        elif p.kind == "id" and out.id_column is None:
            out.id_column = p.name
        else:
            out.dropped[p.name] = p.reason
    return out
