"""Write the converted recipe as YAML, with a comment naming where each value came from."""

from __future__ import annotations

from typing import Any

from mlctl.importer.ingest import display
from mlctl.importer.mapping import Conversion
from mlctl.scaffold.recipe import scalar

FLOW_MAX_ITEMS = 4


def render_yaml(conv: Conversion) -> str:
    """The recipe text: a header, the not-carried-over items, then the sections."""
    p = conv.project
    lines = [
        f"# Imported from the MLflow Recipes project {display(p.root)} (recipe: "
        f"{p.template}, profile {p.profile}) by `mlctl import-recipe`.",
        "# Comments name the Recipes setting each value came from; the full report:",
        f"#   mlctl import-recipe {display(p.recipe_file)} --profile {p.profile} --json",
        f"# Run:  mlctl run {display(conv.out)}",
    ]
    unmapped = [i for i in conv.report.items if i.status == "unmapped"]
    if unmapped:
        lines.append("#")
        lines.append("# Not carried over (mlctl does not run project code):")
        for item in unmapped:
            hint = f" -> {item.hint}" if item.hint else ""
            lines.append(_one_line(f"#   - {item.source}: {item.detail}{hint}"))
    if conv.blockers:
        lines.append("#")
        lines.append("# Before `mlctl run`, fix:")
        lines.extend(_one_line(f"#   - {b}") for b in conv.blockers)
    lines.append("")
    _emit(conv.recipe, "", 0, conv.report.comments, lines)
    return "\n".join(lines) + "\n"


def _one_line(comment: str) -> str:
    """A comment stays one YAML comment line whatever the text held (multi-line SQL)."""
    return " ".join(comment.split("\n")).replace("\r", " ")


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _emit(node: dict, prefix: str, depth: int, comments: dict[str, str], out: list[str]) -> None:
    pad = "  " * depth
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        note = comments.get(path)
        tail = _one_line(f"  # {note}") if note else ""
        label = scalar(key)
        if depth == 0 and isinstance(value, dict) and out and out[-1] != "":
            out.append("")
        if isinstance(value, dict) and value and not _flowable(value, depth):
            out.append(f"{pad}{label}:{tail}")
            _emit(value, path, depth + 1, comments, out)
        else:  # one line, reading back exactly, as mlctl init writes values
            out.append(f"{pad}{label}: {scalar(value)}{tail}")


def _flowable(value: dict, depth: int) -> bool:
    """Small leaf mappings deep in the tree (search distributions) fit on one line."""
    return depth >= 3 and len(value) <= FLOW_MAX_ITEMS and all(map(_is_scalar, value.values()))
