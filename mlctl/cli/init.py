"""``mlctl init``: placeholder until its issue lands."""

from __future__ import annotations

import click


@click.command("init")
def init() -> None:
    """Write a recipe for a CSV or Parquet file (docs/quickstart.md)."""
    raise click.UsageError("mlctl init is not available yet")
