"""``mlctl init``: infer a ready-to-run recipe from a CSV or Parquet file.

Three steps, each a pure function over data the previous one returns:

1. :mod:`mlctl.scaffold.profile` reads a sample of the file and describes the
   target and every column (kind, missing share, distinct values, coercions);
2. :mod:`mlctl.scaffold.plan` decides the task, the features, the split, the
   candidates and tuning budget sized to the data, and a readiness gate relative to
   the dummy baseline;
3. :mod:`mlctl.scaffold.recipe` renders those decisions as a commented YAML recipe.

:func:`mlctl.scaffold.core.scaffold` runs them and writes the file; the CLI renders
the returned :class:`~mlctl.scaffold.plan.Plan`.
"""

from __future__ import annotations

from mlctl.scaffold.core import InitOptions, InitResult, scaffold

__all__ = ["InitOptions", "InitResult", "scaffold"]
