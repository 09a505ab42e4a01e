"""Generate ``docs/recipes.md``, the recipe reference, from the code it documents.

A developer tool (mlctl never runs it): everything in the reference that the code
knows is read from the code: every key of the schema (:mod:`mlctl.recipe.schema`)
with its type, default and description, the estimator catalog
(:data:`mlctl.catalog.CATALOG`), the metrics (:mod:`mlctl.recipe.metrics`), the
functions and limits of the expression language (:mod:`mlctl.features.expressions`)
and the config groups shipped in ``conf/``. The hand-written prose lives in the
template ``recipes.md.j2`` next to this module, so the whole file is generated and a
test can check that it is up to date.

Usage::

    python -m mlctl.devtools.recipe_docs           # write docs/recipes.md
    python -m mlctl.devtools.recipe_docs --check   # exit 1 if docs/recipes.md is out of date
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
import jinja2
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from mlctl.catalog import CATALOG
from mlctl.features import coerce, expressions
from mlctl.recipe.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS, MetricInfo
from mlctl.recipe.schema import Recipe

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = REPO_ROOT / "docs" / "recipes.md"
CONF_DIR = REPO_ROOT / "conf"
TEMPLATE = Path(__file__).with_name("recipes.md.j2")
COMMAND = "python -m mlctl.devtools.recipe_docs"

#: Placeholder shown for the free-form keys of a mapping whose values are sections,
#: by the key path of the mapping. Other mappings get ``<key>``.
PLACEHOLDERS: dict[str, str] = {
    "data.expectations.columns": "<column>",
    "models.candidates": "<name>",
    "models.candidates.<name>.search": "<param>",
}

#: How list items are written in key paths (``features.derived[].expr``).
LIST_ITEM = "[]"

#: Names shown instead of a class name for sections that appear inside a union.
_SECTION_NAMES: dict[str, str] = {"Distribution": "distribution"}

#: One line per function of the expression language; every entry of
#: ``expressions.FUNCTIONS`` must have one (the generator fails otherwise).
FUNCTION_HELP: dict[str, str] = {
    "log": "Natural logarithm; `log(0)` is `-inf`, negative values give NaN.",
    "log1p": "`log(1 + x)`, accurate near 0; the usual choice for counts and amounts.",
    "exp": "e to the power x; overflow gives `inf`.",
    "sqrt": "Square root; negative values give NaN.",
    "abs": "Absolute value.",
    "clip": "x limited to `[lo, hi]`; `lo` and `hi` must be number literals, `lo <= hi`.",
    "round": "Rounded to `ndigits` decimals (default 0); `ndigits` a whole number in -15..15.",
    "isnull": "1 where x is missing (NaN, empty, or blank text for a column), else 0.",
    "fillna": "x with missing values replaced by `value` (a number, column or expression).",
    "where": "`a` where `cond` is true (non-zero and not NaN), else `b`.",
    "col": "The column of that name; for names that are not Python identifiers, "
    'e.g. `col("Total Charges")`.',
    "median": "Median of the column on the training split.",
    "mean": "Mean of the column on the training split.",
    "std": "Standard deviation (ddof=1) of the column on the training split.",
    "min": "Smallest value of the column on the training split.",
    "max": "Largest value of the column on the training split.",
    "quantile": "The q-quantile (`0 <= q <= 1`, linear interpolation) of the column on "
    "the training split.",
}

#: What each ``data.coerce`` type does; every entry of ``coerce.COERCE_TYPES``
#: must have one.
COERCE_HELP: dict[str, str] = {
    "float": "Numbers and numeric text become floats; blank or unreadable text becomes "
    "missing (unreadable values are reported by `mlctl validate`).",
    "int": "Like float, but values with a fraction are refused; stored as float so "
    "missing values stay missing.",
    "str": 'Text; a float such as `3.0` becomes `"3"`, blank text becomes missing.',
    "category": "Same as str (text categories).",
    "bool": "`true/false/yes/no/1/0` in any case become 1.0/0.0; anything else is unreadable.",
    "datetime": "Dates and times parsed by pandas; unreadable values become missing.",
}


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class FieldRow:
    """One key of the reference table.

    Attributes:
        path: Dotted key path, with placeholders for free-form keys.
        type: The type, rendered for people.
        default: The default, rendered as YAML would show it, or ``required``.
        description: What the key means.
        top: The top-level section the key belongs to ('' for top-level scalars).
    """

    path: str
    type: str
    default: str
    description: str
    top: str


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _strip_annotated(tp: Any) -> tuple[Any, list[Any]]:
    """The bare type inside ``Annotated[...]`` and the constraint objects it carries."""
    if typing.get_origin(tp) is typing.Annotated:
        inner, *extras = typing.get_args(tp)
        meta: list[Any] = []
        for extra in extras:
            meta.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
        bare, more = _strip_annotated(inner)
        return bare, meta + more
    return tp, []


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _constraints(base: str, metadata: list[Any]) -> str:
    """``float in (0, 1)``, ``int >= 1``, ``str matching ^...$`` from Annotated metadata."""
    low = high = None
    pattern = None
    for m in metadata:
        if isinstance(m, annotated_types.Gt):
            low = ("(", m.gt)
        elif isinstance(m, annotated_types.Ge):
            low = ("[", m.ge)
        elif isinstance(m, annotated_types.Lt):
            high = (")", m.lt)
        elif isinstance(m, annotated_types.Le):
            high = ("]", m.le)
        elif getattr(m, "pattern", None):
            pattern = m.pattern
    if low and high:
        return f"{base} in {low[0]}{_number(low[1])}, {_number(high[1])}{high[0]}"
    if low:
        return f"{base} {'>' if low[0] == '(' else '>='} {_number(low[1])}"
    if high:
        return f"{base} {'<' if high[0] == ')' else '<='} {_number(high[1])}"
    if pattern:
        return f"{base} matching {pattern}"
    return base


def render_type(tp: Any, metadata: list[Any] | None = None) -> str:
    """A type annotation written for people.

    Args:
        tp: The annotation (may be ``Annotated``, a union, ``Literal``, ``list``,
            ``dict``, a pydantic model or a plain class).
        metadata: Constraint objects (``Gt``, ``Le``, pattern...) from the field.

    Returns:
        For example ``list[str]``, ``"random" | "stratified" | "time"``,
        ``float in (0, 1)``, ``int >= 1 | null`` or ``dict[str, mapping]``.
    """
    bare, inner_meta = _strip_annotated(tp)
    meta = list(metadata or []) + inner_meta
    origin = typing.get_origin(bare)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(bare)
        parts = [render_type(a) for a in args if a is not type(None)]
        if type(None) in args:
            parts.append("null")
        return " | ".join(parts)
    if origin is typing.Literal:
        return " | ".join(json.dumps(v) for v in typing.get_args(bare))
    if origin is list:
        (item,) = typing.get_args(bare) or (Any,)
        return f"list[{render_type(item)}]"
    if origin is dict:
        key, value = typing.get_args(bare) or (str, Any)
        return f"dict[{render_type(key)}, {render_type(value)}]"
    if bare is Any:
        return "any"
    if _is_model(bare):
        return _SECTION_NAMES.get(bare.__name__, "mapping")
    return _constraints(getattr(bare, "__name__", str(bare)), meta)


def render_default(info: FieldInfo) -> str:
    """The default of a field as written in YAML, or ``required``."""
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "—"
    else:
        value = info.default
    if value is PydanticUndefined:
        return "required"
    return json.dumps(value)


def _description(info: FieldInfo, section: Any) -> str:
    text = (info.description or "").strip()
    if not text and _is_model(section):
        text = _docstring(section)
    return text


def _docstring(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def _sections(tp: Any) -> list[tuple[str, type[BaseModel]]]:
    """Nested sections reachable from a field type, each with the path suffix to it.

    ``Data`` → ``[("", Data)]``; ``dict[str, Candidate]`` → ``[("<key>", Candidate)]``
    (the placeholder is filled in by the caller); ``list[DerivedFeature]`` →
    ``[("[]", DerivedFeature)]``; ``dict[str, list | Distribution]`` →
    ``[("<key>", Distribution)]``.
    """
    bare, _ = _strip_annotated(tp)
    origin = typing.get_origin(bare)
    if _is_model(bare):
        return [("", bare)]
    if origin in (typing.Union, types.UnionType):
        return [s for a in typing.get_args(bare) for s in _sections(a)]
    if origin is list:
        return [(LIST_ITEM + suffix, m) for suffix, m in _sections(typing.get_args(bare)[0])]
    if origin is dict:
        return [("<key>" + suffix, m) for suffix, m in _sections(typing.get_args(bare)[1])]
    return []


def _join(path: str, suffix: str) -> str:
    if not suffix:
        return path
    if suffix.startswith(LIST_ITEM):
        return path + suffix
    return f"{path}.{suffix}"


def field_rows(model: type[BaseModel] = Recipe, prefix: str = "", top: str = "") -> list[FieldRow]:
    """Every key path of a schema class, depth first, in declaration order.

    Args:
        model: The pydantic class to walk (default: the whole recipe).
        prefix: Key path of ``model`` itself ('' for the recipe).
        top: The top-level section being walked.

    Returns:
        One row per key; a section is followed by the rows of its keys, and a
        mapping of sections (``models.candidates``) by a placeholder row
        (``models.candidates.<name>``) and the keys under it.
    """
    rows: list[FieldRow] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}.{key}" if prefix else key
        nested = _sections(info.annotation)
        section_top = top or (key if nested else "")
        rows.append(
            FieldRow(
                path=path,
                type=render_type(info.annotation, list(info.metadata)),
                default=render_default(info),
                description=_description(info, nested[0][1] if nested else None),
                top=section_top,
            )
        )
        for suffix, section in nested:
            placeholder = PLACEHOLDERS.get(path, "<key>")
            sub = _join(path, suffix.replace("<key>", placeholder))
            if sub != path:
                rows.append(FieldRow(sub, "mapping", "—", _docstring(section), section_top))
            rows.extend(field_rows(section, sub, section_top))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`"


def reference_section() -> str:
    """The reference tables: top-level scalars, then one table per section."""
    rows = field_rows()
    out = []
    head = "| key | type | default | description |\n|---|---|---|---|\n"

    def line(r: FieldRow) -> str:
        cells = [_code(r.path), _code(r.type), _code(r.default), r.description]
        if r.default in ("required", "—"):
            cells[2] = f"*{r.default}*"
        return "| " + " | ".join(_cell(c) for c in cells) + " |\n"

    tops = [r for r in rows if r.path in Recipe.model_fields]
    out.append("### Top level\n\n" + head + "".join(line(r) for r in tops))
    for name, info in Recipe.model_fields.items():
        section_rows = [r for r in rows if r.top == name and r.path != name]
        if not section_rows:
            continue
        nested = _sections(info.annotation)
        doc = _docstring(nested[0][1]) if nested else ""
        out.append(f"### `{name}`\n\n{doc}\n\n" + head + "".join(line(r) for r in section_rows))
    return "\n".join(out)


# --------------------------------------------------------------------------- tables


def catalog_section() -> str:
    """The estimator table from :data:`mlctl.catalog.CATALOG`."""
    lines = [
        "| name | classification | regression | notes |",
        "|---|---|---|---|",
    ]
    for name, entry in CATALOG.items():
        notes = entry.description
        if entry.requires:
            notes += f" Needs the optional package `{entry.requires}`."
        cls = [_code(p) if p else "—" for p in (entry.classification, entry.regression)]
        lines.append(f"| `{name}` | {cls[0]} | {cls[1]} | {_cell(notes)} |")
    return "\n".join(lines) + "\n"


def _metric_rows(task: str, table: dict[str, MetricInfo]) -> list[str]:
    rows = []
    for name, info in table.items():
        direction = "higher is better" if info.greater_is_better else "lower is better"
        rows.append(f"| `{name}` | {task} | {direction} | {_cell(info.description)} |")
    return rows


def metrics_section() -> str:
    """The metric table from :mod:`mlctl.evaluate.metrics`."""
    lines = ["| name | task | direction | description |", "|---|---|---|---|"]
    lines += _metric_rows("classification", CLASSIFICATION_METRICS)
    lines += _metric_rows("regression", REGRESSION_METRICS)
    defaults = ", ".join(
        f"`{_default_metric(task)}` for {task}" for task in ("classification", "regression")
    )
    return "\n".join(lines) + f"\n\nDefault selection metric: {defaults}.\n"


def _default_metric(task: str) -> str:
    minimal = {"name": "x", "task": task, "data": {"source": "x.csv", "target": "y"}}
    return Recipe.model_validate(minimal).selection_metric


def expressions_section() -> str:
    """The function table of the expression language (:mod:`mlctl.features.expressions`)."""
    rows = []
    for name, (_, _, signature) in expressions.FUNCTIONS.items():
        if name in expressions.STATISTICS:
            kind = "fit-time statistic"
        elif name == "col":
            kind = "column"
        else:
            kind = "element-wise"
        rows.append(f"| `{_cell(signature)}` | {kind} | {_cell(FUNCTION_HELP[name])} |")
    return "\n".join(rows) + "\n"


def coerce_section() -> str:
    """The ``data.coerce`` types from :data:`mlctl.features.coerce.COERCE_TYPES`."""
    rows = [f"| `{t}` | {_cell(COERCE_HELP[t])} |" for t in coerce.COERCE_TYPES]
    return "\n".join(rows) + "\n"


def _leading_comment(path: Path) -> str:
    """The comment block at the top of a YAML file, as one line."""
    words: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        text = raw.strip()
        if not text.startswith("#"):
            break
        words.append(text.lstrip("#").strip())
    return " ".join(w for w in words if w)


def conf_section(conf_dir: Path = CONF_DIR) -> str:
    """The config groups and options found in ``conf_dir`` ('' when there is none)."""
    if not conf_dir.is_dir():
        return ""
    rows = []
    for group in sorted(p for p in conf_dir.iterdir() if p.is_dir()):
        for option in sorted(group.glob("*.yaml")):
            about = _cell(_leading_comment(option))
            rows.append(f"| `{group.name}` | `{option.stem}` | {about} |")
    return "\n".join(rows) + "\n" if rows else ""


# --------------------------------------------------------------------------- document


def render() -> str:
    """The complete text of ``docs/recipes.md``: the template with the generated parts."""
    env = jinja2.Environment(
        autoescape=False,  # Markdown, not HTML  # noqa: S701
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    template = env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    sections = {
        "reference": reference_section(),
        "catalog": catalog_section(),
        "metrics": metrics_section(),
        "functions": expressions_section(),
        "coerce": coerce_section(),
        "conf": conf_section(),
    }
    text = template.render(
        **{name: part.rstrip("\n") for name, part in sections.items()},
        max_exponent=expressions.MAX_EXPONENT,
        max_length=expressions.MAX_LENGTH,
        max_nodes=expressions.MAX_NODES,
        max_depth=expressions.MAX_DEPTH,
    )
    return text.rstrip("\n") + "\n"


def is_up_to_date(path: Path = DOC_PATH) -> bool:
    """Whether ``path`` holds exactly what :func:`render` produces."""
    return path.is_file() and path.read_text(encoding="utf-8") == render()


def write(path: Path = DOC_PATH) -> bool:
    """Write the reference to ``path``; returns whether the file changed."""
    text = render()
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog=COMMAND, description="Generate docs/recipes.md.")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file is out of date; write nothing"
    )
    parser.add_argument("--output", type=Path, default=DOC_PATH, help="file to write or check")
    args = parser.parse_args()
    if args.check:
        if not is_up_to_date(args.output):
            print(
                f"{args.output} is out of date; run: {COMMAND}",
                file=sys.stderr,
            )
            sys.exit(1)
        print(f"{args.output} is up to date")
    else:
        changed = write(args.output)
        print(f"{'wrote' if changed else 'unchanged:'} {args.output}")
