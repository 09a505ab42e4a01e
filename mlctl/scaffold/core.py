"""Run the inference and write the recipe: the one entry point the CLI calls."""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlctl.errors import DataError, UsageError
from mlctl.scaffold.plan import Plan, analyse_target, make_plan
from mlctl.scaffold.profile import COMPRESSIONS, profile_columns, read_sample
from mlctl.scaffold.recipe import render

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
DEFAULT_SAMPLE_ROWS = 100_000


@dataclass
class InitOptions:
    """What ``mlctl init`` was asked for."""

    source: str
    target: str
    name: str | None = None
    out: str | None = None  # default recipes/<name>.yaml under the current folder
    force: bool = False
    task: str = "auto"  # auto, classification or regression
    time_column: str | None = None
    sample_rows: int = DEFAULT_SAMPLE_ROWS
    separator: str | None = None


@dataclass
class InitResult:
    """The decisions, the recipe text and where it was written."""

    plan: Plan
    path: Path
    text: str
    replaced: bool  # an existing file was overwritten (--overwrite)

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": str(self.path), "replaced": self.replaced, **self.plan.to_dict()}


def default_name(source: Path) -> str:
    """A valid recipe name from a file name: ``My data (v2).csv`` → ``My-data-v2``,
    ``données été.csv`` → ``donnees-ete``, ``data.csv.gz`` → ``data``."""
    stem = source.stem if source.suffix.lower() not in COMPRESSIONS else Path(source.stem).stem
    # Accents folded first (données → donnees), then anything else becomes '-'.
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._")[:100]
    return stem or "model"


def scaffold(options: InitOptions, cwd: Path | None = None) -> InitResult:
    """Profile the file, decide, and write the recipe (never over an existing one
    without ``force``).

    Raises:
        UsageError: a bad name, --time-column or output path, or an existing recipe.
        DataError: the file cannot be read, or the target cannot be learned.
    """
    cwd = cwd or Path.cwd()
    source = (cwd / Path(options.source).expanduser()).resolve()
    name = options.name or default_name(source)
    if not NAME.match(name):
        raise UsageError(
            f"--name {name!r} is not a valid recipe name: use letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, at most 100 characters)"
        )
    out = (cwd / Path(options.out or f"recipes/{name}.yaml").expanduser()).resolve()
    check_output(out, options.force)
    separator = check_separator(options.separator)
    table = read_sample(source, options.sample_rows, separator)
    target = analyse_target(table, options.target, options.task)
    columns = profile_columns(table.frame, {options.target})
    relative = Path(os.path.relpath(source, out.parent)).as_posix()
    plan = make_plan(
        table, target, columns, name=name, source=relative, time_column=options.time_column
    )
    shown = os.path.relpath(out, cwd) if out.is_relative_to(cwd) else str(out)
    text = render(plan, datetime.now(UTC).strftime("%Y-%m-%d"), Path(shown).as_posix())
    replaced = out.exists()
    _write(out, text)
    return InitResult(plan, out, text, replaced)


#: Escapes a shell passes through literally (``--sep '\\t'``) and the character meant.
SEPARATOR_ESCAPES = {"\\t": "\t", "tab": "\t", "\\x09": "\t"}


def check_separator(separator: str | None) -> str | None:
    """One field separator character (``\\t`` typed literally means a tab).

    Raises:
        UsageError: empty, several characters, a quote or a line break.
    """
    if separator is None:
        return None
    separator = SEPARATOR_ESCAPES.get(separator.lower(), separator)
    if len(separator) != 1 or separator in '"\r\n':
        raise UsageError(
            f"--sep {separator!r}: the field separator must be one character other than "
            "a quote or a line break",
            hint="e.g. --sep ';', --sep '|', or --sep '\\t' for tabs",
        )
    return separator


def check_output(out: Path, force: bool, other: str = "--out / --name") -> None:
    """A recipe file may be written at ``out`` (also for ``mlctl import-recipe``).

    Raises:
        UsageError: not ``.yaml``, a folder, or an existing file without ``force``
            (the hint names the options, ``other``, that choose another file).
    """
    if out.suffix != ".yaml":
        raise UsageError(f"--out {out.name}: a recipe file must end in .yaml")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name ending in .yaml")
    if out.exists() and not force:
        raise UsageError(
            f"recipe {out} already exists; it was left untouched",
            hint=f"pass --overwrite to replace it, or {other} for another file",
        )


def _write(out: Path, text: str) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise DataError(f"cannot write the recipe {out}: {exc.strerror or exc}") from None
