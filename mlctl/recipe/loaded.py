"""A composed, validated recipe and where it came from (what :mod:`mlctl.recipe.loader`
returns and every check and stage takes)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlctl.errors import Issue
from mlctl.recipe.schema import Recipe
from mlctl.redact import redact_tree


@dataclass
class LoadedRecipe:
    """A composed, validated recipe and where it came from."""

    recipe: Recipe
    path: Path
    composed: dict[str, Any]
    overrides: list[str]
    locations: dict[str, str] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)
    # Issues held back until the data's columns are checked (Issue.after_data):
    # mlctl.data.prepare.load_dataset raises them once the data itself is fine.
    pending: list[Issue] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the recipe resolve against."""
        return self.path.parent

    @property
    def public(self) -> dict[str, Any]:
        """The composed recipe with its secrets masked: what is logged, printed and
        reported (:mod:`mlctl.redact`); ``composed`` keeps the real values."""
        return redact_tree(self.composed)

    @property
    def hash(self) -> str:
        """SHA-256 of the composed recipe (stable key order)."""
        text = json.dumps(self.composed, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def location(self, key_path: str) -> str | None:
        """``file:line`` of a key path, or of its nearest written parent."""
        parts = key_path.split(".")
        while parts:
            loc = self.locations.get(".".join(parts))
            if loc:
                return loc
            parts.pop()
        return None

    def resolve_path(self, value: str) -> Path:
        """A path from the recipe, relative to the recipe's folder."""
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else (self.base_dir / p).resolve()
