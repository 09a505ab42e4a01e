"""Untrusted recipes: `_target_` prefixes come from the user, never the recipe; nothing
outside them is imported; secrets are redacted wherever a recipe leaves the process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from recipe_builders import write_recipe as write

from mlctl.errors import RecipeError
from mlctl.train.checks import load_training_recipe as load_recipe  # _target_ is a candidate

pytestmark = pytest.mark.unit

RECIPE = """\
name: demo
data:
  source: data.csv
  target: y
features:
  numeric: [a, b]
models:
  allowed_prefixes: [{prefix}]
  candidates:
    evil:
      _target_: {target}
"""


def evil_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    """A package whose import writes a marker file: proof that a recipe imported it."""
    marker = tmp_path / f"{name}.imported"
    pkg = tmp_path / "site" / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\n"
        "class Evil:\n    def __init__(self, **kw):\n        pass\n"
        "    def fit(self, X, y):\n        return self\n"
        "    def get_params(self, deep=True):\n        return {}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return marker


def test_recipe_cannot_allow_its_own_prefixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLCTL_TRUSTED_PREFIXES", raising=False)
    marker = evil_package(tmp_path, monkeypatch, "evilpkg_a")
    path = write(tmp_path, RECIPE.format(prefix="evilpkg_a", target="evilpkg_a.Evil"))
    with pytest.raises(RecipeError) as exc:
        load_recipe(path)
    text = str(exc.value)
    assert "models.allowed_prefixes" in text
    assert "evilpkg_a" in text
    assert "--trust-prefix" in text and "MLCTL_TRUSTED_PREFIXES" in text
    assert not marker.exists(), "the recipe's own allowlist made mlctl import its class"
    assert "evilpkg_a" not in sys.modules


def test_user_trusted_prefix_allows_the_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = evil_package(tmp_path, monkeypatch, "evilpkg_b")
    monkeypatch.setenv("MLCTL_TRUSTED_PREFIXES", "evilpkg_b")
    path = write(tmp_path, RECIPE.format(prefix="evilpkg_b", target="evilpkg_b.Evil"))
    load_recipe(path)
    assert marker.exists()


def test_target_outside_allowlist_is_refused_without_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLCTL_TRUSTED_PREFIXES", raising=False)
    marker = evil_package(tmp_path, monkeypatch, "evilpkg_c")
    text = RECIPE.format(prefix="sklearn", target="evilpkg_c.Evil")
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, text))
    assert "models.candidates.evil._target_" in str(exc.value)
    assert not marker.exists()
