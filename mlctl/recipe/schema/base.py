"""What every section of the recipe schema shares: the strict base model and the
recipe's small vocabularies (the task, a column type, a parameter value)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Task = Literal["classification", "regression"]
ColumnType = Literal["float", "int", "str", "category", "bool", "datetime"]
ParamValue = Any


class Strict(BaseModel):
    """A schema section: unknown keys refused, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=False)
