"""The Recipes ingest step → ``data`` and ``features`` of an mlctl recipe.

The data the ingest step names is read once (CSV or Parquet) so the feature columns
can be listed; a source mlctl cannot read (Spark SQL, Delta, remote) is reported and
leaves the recipe with blockers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlctl.data.load import SUFFIXES
from mlctl.errors import DataError
from mlctl.importer.infer import Columns, sort_columns

if TYPE_CHECKING:
    from mlctl.importer.mapping import Conversion

PLACEHOLDER_SOURCE = "EXPORT-THE-RECIPES-DATA-TO-PARQUET.parquet"


def _relative(path: Path, out: Path) -> str:
    return Path(os.path.relpath(path, out.parent.resolve())).as_posix()


def map_data(conv: Conversion) -> tuple[dict, Columns | None]:
    """The ``data`` section, and the table's sorted columns when it could be read."""
    p, report = conv.project, conv.report
    target = str(p.config["target_col"])
    data: dict[str, Any] = {"source": PLACEHOLDER_SOURCE, "target": target}
    report.mapped("target_col", "data.target", target, comment="target_col")
    ingest = p.step("ingest")
    using = str(ingest.get("using", ""))
    location = ingest.get("location")
    resolved = _location(conv, using, location, ingest)
    columns = None
    if resolved is not None:
        path, fmt = resolved
        data["source"] = _relative(path, conv.out)
        if SUFFIXES.get(path.suffix.lower()) != fmt:
            data["format"] = fmt  # an extension that does not say it (e.g. .txt, .data)
        columns = _read_columns(conv, path, fmt, target)
    else:
        conv.blockers.append("data.source: the Recipes ingest step could not be mapped")
    if p.task == "classification" and p.config.get("positive_class") not in (None, ""):
        positive = p.config["positive_class"]
        positive = _positive_like_data(conv.target_values, positive)
        data["positive_class"] = positive
        labels = _labels(conv.target_values)
        if labels is not None and not any(c == positive or str(c) == str(positive) for c in labels):
            report.unmapped(
                "positive_class",
                f"{positive!r} is not a value of target '{target}' (values: {labels[:20]})",
                "set data.positive_class to one of the target's values",
            )
            conv.blockers.append(
                f"data.positive_class: {positive!r} is not a value of target '{target}'; "
                f"values: {labels[:20]}"
            )
        else:
            report.mapped("positive_class", "data.positive_class", repr(positive), "positive_class")
    elif p.task == "classification":
        report.mapped(
            "positive_class",
            None,
            "not set: Recipes trained a multiclass model; mlctl does too when the target has "
            "more than two classes (with two, the positive class is the last label in sort "
            "order)",
        )
    if columns is not None:
        if columns.id_column:
            data["id_column"] = columns.id_column
            report.approximated(
                "steps.ingest (data)",
                "data.id_column",
                f"'{columns.id_column}' has a distinct value on every row: kept as the id "
                "column, not a feature",
                comment="inferred: a distinct value on every row",
            )
        if columns.dropped:
            data["drop"] = sorted(columns.dropped)
            for col, why in columns.dropped.items():
                report.approximated("steps.ingest (data)", "data.drop", f"'{col}' dropped: {why}")
            conv.report.comments["data.drop"] = "inferred: " + "; ".join(
                f"{c}: {w}" for c, w in columns.dropped.items()
            )
        if columns.coerce:
            data["coerce"] = dict(columns.coerce)
            conv.report.comments["data.coerce"] = (
                "inferred: text columns of numbers with a few blanks"
            )
    return data, columns


def _location(conv: Conversion, using: str, location: Any, ingest: dict) -> tuple[Path, str] | None:
    """The local file (or glob) and format of the ingest step, or None (reported)."""
    report, p = conv.report, conv.project
    src = f"steps.ingest (using: {using or 'not set'})"
    if using in ("spark_sql", "delta") or (not location and using != "custom"):
        what = ingest.get("sql") or location or "no location"
        report.unmapped(
            src,
            f"{using or 'ingest'} source {what!r} cannot be read by mlctl",
            "export the data to Parquet or CSV (e.g. spark.table(...).toPandas().to_parquet) "
            "and set data.source to the file",
        )
        return None
    locations = location if isinstance(location, list) else [location]
    if not locations or not all(isinstance(x, str) and x for x in locations):
        report.unmapped(src, f"location {location!r} is not a file path", "set data.source")
        return None
    remote = [x for x in locations if "://" in x and not x.startswith("file://")]
    if remote or any(x.startswith("dbfs:") for x in locations):
        report.unmapped(
            src,
            f"remote location {locations[0]!r}",
            "download the files and set data.source to the local copy (a glob may name many)",
        )
        return None
    paths = [project_path(p.root, x) for x in locations]
    fmt = using if using in ("csv", "parquet") else SUFFIXES.get(paths[0].suffix.lower())
    if using == "custom" or ingest.get("loader_method"):
        loader = ingest.get("loader_method") or "custom loader"
        if fmt is None:
            report.unmapped(
                f"steps.ingest.loader_method ({loader})",
                "custom Python loader for a format mlctl does not read",
                "convert the data to Parquet or CSV and set data.source",
            )
            return None
        report.approximated(
            f"steps.ingest.loader_method ({loader})",
            "data.source",
            f"mlctl reads {fmt} itself; the loader function is not run",
            "if the loader did more than read the file, do that before mlctl reads it",
        )
    if fmt is None:
        report.unmapped(src, f"format of {locations[0]!r} unknown", "set data.format")
        return None
    if len(paths) > 1:
        parents = {x.parent for x in paths}
        if len(parents) != 1:
            report.unmapped(
                src,
                f"{len(paths)} locations in different folders",
                "put the files in one folder and set data.source to a glob",
            )
            return None
        path = next(iter(parents)) / f"*{paths[0].suffix}"
        report.approximated(
            "steps.ingest.location",
            "data.source",
            f"{len(paths)} files → the glob {path.name} (every such file in the folder)",
            comment="steps.ingest.location (a list of files)",
        )
        return path, fmt
    path = paths[0]
    if path.is_dir():
        path = path / f"*.{'parquet' if fmt == 'parquet' else 'csv'}"
    report.mapped(
        "steps.ingest.location",
        "data.source",
        f"{using} {locations[0]}",
        comment=f"steps.ingest: using {using}, location {locations[0]} (profile {p.profile})",
    )
    return path, fmt


def project_path(root: Path, location: str) -> Path:
    text = location[len("file://") :] if location.startswith("file://") else location
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() else (root / path).resolve()


def _read_columns(conv: Conversion, path: Path, fmt: str, target: str) -> Columns | None:
    from mlctl.data.load import read_table

    try:
        df, _ = read_table(path, fmt)
    except DataError as exc:
        conv.blockers.append(f"data.source: {exc.message.removeprefix('data.source: ')}")
        return None
    if target not in df.columns:
        conv.blockers.append(
            f"data.target: target_col '{target}' is not a column of {path.name} "
            f"(columns: {', '.join(map(str, df.columns[:20]))})"
        )
        return None
    conv.target_values = df[target]
    return sort_columns(df, target)


def _labels(y: Any) -> list | None:
    """The target's distinct values as mlctl compares them, or None when not read."""
    if y is None:
        return None
    return sorted(y.dropna().unique().tolist(), key=str)


def _positive_like_data(y: Any, positive: Any) -> Any:
    """Recipes templates quote the positive class; an integer target needs an integer."""
    if y is None or not isinstance(positive, str):
        return positive
    import pandas as pd

    if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
        try:
            number = float(positive)
        except ValueError:
            return positive
        return int(number) if number.is_integer() else number
    if pd.api.types.is_bool_dtype(y) and positive.lower() in ("true", "false"):
        return positive.lower() == "true"
    return positive


def map_features(conv: Conversion, columns: Columns | None) -> dict:
    """The ``features`` section: the inferred columns and mlctl's per-kind transforms."""
    if columns is None:
        conv.blockers.append("features: no data was read, so no feature columns were listed")
        return {"numeric": [], "categorical": []}
    conv.report.approximated(
        "steps.ingest (data)",
        "features",
        f"{len(columns.numeric)} numeric and {len(columns.categorical)} categorical columns "
        f"inferred from {columns.rows} rows (Recipes passed every column but the target)",
        comment="inferred from the data: every column but the target, the id and dropped ones",
    )
    return {
        "numeric": columns.numeric,
        "categorical": columns.categorical,
        "numeric_transform": {"impute": "median", "scale": "standard"},
        "categorical_transform": {"impute": "constant", "encode": "onehot"},
    }


def display(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel
