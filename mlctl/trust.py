"""The prefixes a ``_target_`` class path may start with, and who may widen them.

``sklearn.`` and ``mlctl.`` always; beyond those only what the person running mlctl
trusts (``--trust-prefix``, ``MLCTL_TRUSTED_PREFIXES``). A recipe's
``models.allowed_prefixes`` is only a request that those must already cover. Pure
Python: the recipe checks and the catalog (:mod:`mlctl.catalog`) both use it.
"""

from __future__ import annotations

import os
import re

DEFAULT_PREFIXES = ("sklearn.", "mlctl.")
TRUST_ENV = "MLCTL_TRUSTED_PREFIXES"
TRUST_HINT = f"to trust one: --trust-prefix PREFIX or {TRUST_ENV}=PREFIX (not the recipe)"


def normal_prefix(prefix: str) -> str:
    prefix = prefix.strip()
    return prefix if prefix.endswith(".") else prefix + "."


def user_prefixes() -> tuple[str, ...]:
    """Module prefixes the person running mlctl trusts besides ``sklearn.`` and
    ``mlctl.``: ``MLCTL_TRUSTED_PREFIXES`` (comma- or space-separated), which
    ``--trust-prefix`` extends. A recipe can never add to them."""
    raw = os.environ.get(TRUST_ENV, "")
    parts = [p for p in re.split(r"[,\s]+", raw) if p.strip(". ")]
    return tuple(dict.fromkeys(normal_prefix(p) for p in parts))


def trust(prefixes: list[str] | tuple[str, ...]) -> None:
    """Add prefixes to the user-trusted ones (``--trust-prefix``; child processes of
    this one, such as sweep jobs, inherit them through the environment)."""
    merged = [*user_prefixes(), *(normal_prefix(p) for p in prefixes if p.strip(". "))]
    if merged:
        os.environ[TRUST_ENV] = ",".join(dict.fromkeys(p.rstrip(".") for p in merged))


def allowed_prefixes() -> tuple[str, ...]:
    """Every prefix a ``_target_`` may start with: the defaults and the user's."""
    return tuple(dict.fromkeys(DEFAULT_PREFIXES + user_prefixes()))


def untrusted_requests(requested: list[str]) -> list[str]:
    """Prefixes a recipe's ``models.allowed_prefixes`` asks for that the user has not
    trusted (a request is met by an equal or shorter trusted prefix)."""
    allowed = allowed_prefixes()
    return [p for p in requested if not normal_prefix(p).startswith(allowed)]
