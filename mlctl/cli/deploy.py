"""``mlctl deploy``: placeholder until its issue lands."""

from __future__ import annotations

import click


@click.command("deploy")
def deploy() -> None:
    """Generate deployment files for a RECIPE (docs/deployment.md)."""
    raise click.UsageError("mlctl deploy is not available yet")
