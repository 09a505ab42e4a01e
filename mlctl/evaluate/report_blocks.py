"""What a report section is made of, independent of Markdown or HTML.

A section is a title and a list of blocks: paragraphs, tables, plots, and two
columns side by side. :mod:`mlctl.evaluate.report_sections` builds them from the
report context; :mod:`mlctl.evaluate.report` renders them as Markdown and as HTML,
so both reports always hold the same sections, in the same order, with the same
numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

_NUMBER = re.compile(
    r"^[-+]?(\d{1,3}(,\d{3})*|\d+)(\.\d+)?( ± [-+]?(\d{1,3}(,\d{3})*|\d+)(\.\d+)?)?$"
)


def is_number_text(text: str) -> bool:
    """A formatted number (``7,043``, ``0.8467``, ``0.8501 ± 0.0112``): right-aligned."""
    return bool(_NUMBER.match(text.strip()))


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, an optional mark (``ok``, ``bad``, ``warn``, ``muted``),
    a muted second line, short tags, or several short lines (best parameters)."""

    text: str = ""
    mark: str = ""
    note: str = ""
    tags: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return not (self.note or self.tags or self.lines) and is_number_text(self.text)


CellLike = Union[Cell, str]  # noqa: UP007  (a runtime alias)


def cell(value: CellLike) -> Cell:
    return value if isinstance(value, Cell) else Cell(str(value))


@dataclass(frozen=True)
class Paragraph:
    text: str
    style: str = ""  # "" | "muted" | "warn"


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[CellLike]]
    row_marks: list[str] = field(default_factory=list)  # per row: "" | "winner" | "flagged"
    css: str = ""  # an extra class of the table ("board": the leaderboard)


@dataclass(frozen=True)
class Plots:
    """Plots by name; those missing from the report's plots are left out."""

    names: list[str]


@dataclass(frozen=True)
class Columns:
    """Blocks side by side in HTML (each a titled column), one after the other in
    Markdown."""

    columns: list[tuple[str, list[Block]]]


Block = Union[Paragraph, Table, Plots, Columns]  # noqa: UP007


@dataclass(frozen=True)
class Section:
    key: str  # the HTML id
    title: str
    blocks: list[Block]
    badge: tuple[str, str] | None = None  # (text, mark) after the title
