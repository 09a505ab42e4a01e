"""Strict, safe YAML reading with line numbers for every key.

PyYAML's SafeLoader already refuses Python tags; on top of it this refuses
duplicate keys, alias bombs and huge files, and records where each key path
was written so errors can say ``file:line``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlctl.errors import Issue, RecipeError

MAX_BYTES = 1_000_000
MAX_ALIASES = 20


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases and refuses duplicate mapping keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_count = 0

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML signature
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                event = self.peek_event()
                raise yaml.constructor.ConstructorError(
                    None, None, f"more than {MAX_ALIASES} YAML aliases", event.start_mark
                )
        return super().compose_node(parent, index)


def _where(path: Path, mark: Any) -> str:
    return f"{path}:{mark.line + 1}" if mark is not None else str(path)


def read_yaml(path: Path) -> tuple[Any, dict[str, str]]:
    """Read one YAML file safely.

    Returns:
        The parsed document and a map of dotted key path to ``file:line``.

    Raises:
        RecipeError: unreadable, too large, not valid YAML, duplicate keys, tags
            that would construct objects, or too many aliases.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RecipeError([Issue("", f"cannot read {path}: {exc.strerror}")]) from None
    if size > MAX_BYTES:
        raise RecipeError(
            [Issue("", f"{path} is {size} bytes; recipes are limited to {MAX_BYTES} bytes")]
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError([Issue("", f"cannot read {path}: {exc}")]) from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> tuple[Any, dict[str, str]]:
    """Parse YAML text (see :func:`read_yaml`)."""
    loader = None
    try:
        loader = _LineLoader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, path) from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        raise RecipeError([Issue("", f"invalid YAML: {first}", str(path))]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return None, {}
    lines: dict[str, str] = {}
    _check_nodes(node, "", path, lines)
    try:
        data = yaml.SafeLoader(text).get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, path) from None
    return data, lines


def _yaml_error(exc: yaml.MarkedYAMLError, path: Path) -> RecipeError:
    """One readable line for PyYAML's error, at the line that needs fixing."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or str(exc)
    context = exc.context or ""
    if "could not determine a constructor" in str(exc):
        problem = f"tag not allowed ({problem}); recipes may only hold plain YAML data"
    elif "'\\t'" in problem or "\t" in problem:
        problem = "a tab is used for indentation; YAML indents with spaces only"
    elif "quoted scalar" in context and exc.context_mark is not None:
        mark = exc.context_mark
        problem = f"unclosed quote starting at line {mark.line + 1}, column {mark.column + 1}"
    return RecipeError([Issue("", f"invalid YAML: {problem}", _where(path, mark))])


def _check_nodes(node: yaml.Node, prefix: str, path: Path, lines: dict[str, str]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                full = f"{prefix}.{key}" if prefix else key
                raise RecipeError(
                    [
                        Issue(
                            full,
                            f"duplicate key (first written at line {seen[key]})",
                            f"{path}:{line}",
                        )
                    ]
                )
            seen[key] = line
            full = f"{prefix}.{key}" if prefix else key
            lines[full] = f"{path}:{line}"
            _check_nodes(value_node, full, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            full = f"{prefix}.{i}" if prefix else str(i)
            lines.setdefault(full, f"{path}:{item.start_mark.line + 1}")
            _check_nodes(item, full, path, lines)
