"""The estimator catalog and the `_target_` allowlist."""

from __future__ import annotations

import pytest

from mlctl import catalog
from mlctl.errors import RecipeError
from mlctl.trust import TRUST_ENV

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "name",
    [
        "logistic_regression",
        "random_forest",
        "extra_trees",
        "gradient_boosting",
        "hist_gradient_boosting",
        "dummy",
    ],
)
def test_classification_names_resolve(name: str) -> None:
    cls = catalog.resolve_estimator_class(name, None, "classification")
    assert hasattr(cls(), "fit")


@pytest.mark.parametrize("name", ["linear", "ridge", "lasso", "random_forest", "dummy"])
def test_regression_names_resolve(name: str) -> None:
    cls = catalog.resolve_estimator_class(name, None, "regression")
    assert cls.__module__.startswith("sklearn.")


def test_unknown_name_suggests() -> None:
    with pytest.raises(RecipeError, match="did you mean 'random_forest'"):
        catalog.class_path_for("random_forrest", "classification")


def test_wrong_task() -> None:
    with pytest.raises(RecipeError, match="has no classification variant"):
        catalog.class_path_for("lasso", "classification")


@pytest.mark.parametrize(
    "path", ["os.system", "subprocess.Popen", "builtins.eval", "sklearnx.Evil", "mlctlx.Evil"]
)
def test_allowlist_refuses(path: str) -> None:
    with pytest.raises(RecipeError, match="is not allowed"):
        catalog.resolve_estimator_class(None, path, "classification")


def test_allowlist_extra_prefix_comes_from_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRUST_ENV, raising=False)
    with pytest.raises(RecipeError, match="--trust-prefix"):
        catalog.resolve_estimator_class(None, "collections.OrderedDict", "classification")
    monkeypatch.setenv(TRUST_ENV, "collections")
    with pytest.raises(RecipeError, match="not an estimator"):
        catalog.resolve_estimator_class(None, "collections.OrderedDict", "classification")


def test_reexported_class_is_judged_by_its_real_module() -> None:
    # sklearn's module imports numbers.Integral; the sklearn. prefix must not admit it.
    with pytest.raises(RecipeError, match="is really numbers.Integral"):
        catalog.import_estimator("sklearn.utils._param_validation.Integral")


def test_exactly_one_of_estimator_or_target() -> None:
    with pytest.raises(RecipeError, match="exactly one"):
        catalog.resolve_estimator_class(None, None, "classification")
    with pytest.raises(RecipeError, match="exactly one"):
        catalog.resolve_estimator_class("dummy", "sklearn.dummy.DummyClassifier", "classification")


def test_missing_class_in_allowed_module() -> None:
    with pytest.raises(RecipeError, match="is not a class"):
        catalog.resolve_estimator_class(None, "sklearn.linear_model.Nope", "classification")
