"""Checks of the composed ``hydra`` node of a sweep, before Hydra acts on it.

Pure Python (no Hydra import): :mod:`mlctl.sweep.launch` composes the node and
passes it here as plain containers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlctl.errors import Issue, RecipeError
from mlctl.trust import TRUST_HINT, allowed_prefixes

#: Module prefixes Hydra's own sweepers, launchers, samplers and logging may name.
HYDRA_PREFIXES = ("hydra.", "hydra_plugins.", "optuna.", "logging.", "colorlog.")
_CLASS_KEYS = ("_target_", "()", "class")


def check_hydra_classes(node: Any, path: str = "hydra") -> None:
    """Refuse a class or factory in the composed ``hydra`` node (sweeper, launcher,
    callbacks, logging handlers, ``ext://`` references) outside Hydra's own modules
    and the prefixes the user trusts: Hydra would import and call it when the sweep
    starts.

    Raises:
        RecipeError: naming the key path and the class.
    """
    allowed = HYDRA_PREFIXES + allowed_prefixes()
    if isinstance(node, dict):
        items = [(str(k), v) for k, v in node.items()]
    elif isinstance(node, list):
        items = [(str(i), v) for i, v in enumerate(node)]
    else:
        items = []
    for key, value in items:
        where = f"{path}.{key}"
        named = value if key in _CLASS_KEYS else None
        if isinstance(value, str) and value.startswith("ext://"):
            named = value.removeprefix("ext://")
            allowed_here = (*allowed, "sys.")
        else:
            allowed_here = allowed
        if named is not None and not (isinstance(named, str) and named.startswith(allowed_here)):
            raise RecipeError(
                [
                    Issue(
                        where,
                        f"names {named!r}, which is outside Hydra's modules and the trusted "
                        f"prefixes; {TRUST_HINT}",
                    )
                ]
            )
        check_hydra_classes(value, where)


def check_hydra_settings(job: dict[str, Any], subdir: str) -> None:
    """Refuse Hydra settings that would let a recipe change what its jobs trust or
    where they write: ``hydra.job.env_set`` (e.g. ``MLCTL_TRUSTED_PREFIXES`` or
    ``PYTHONPATH`` for every job) and a ``hydra.sweep.subdir`` that leaves the sweep
    folder.

    Raises:
        RecipeError: naming the key.
    """
    issues = []
    if job.get("env_set"):
        names = ", ".join(sorted(str(k) for k in job["env_set"]))
        issues.append(
            Issue(
                "hydra.job.env_set",
                f"sets environment variables of every job ({names}); set them in the "
                "environment that runs mlctl instead",
            )
        )
    if subdir.startswith("/") or ".." in Path(subdir).parts:
        issues.append(
            Issue("hydra.sweep.subdir", f"'{subdir}' leaves the sweep folder; use a relative name")
        )
    if issues:
        raise RecipeError(issues)
