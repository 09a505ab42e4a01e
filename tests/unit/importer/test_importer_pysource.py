"""Reading step functions without running them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlctl.importer.pysource import read_function, split_method

pytestmark = pytest.mark.unit


def write(root: Path, module: str, text: str) -> Path:
    (root / "steps").mkdir(exist_ok=True)
    (root / "steps" / f"{module}.py").write_text(text)
    return root


def test_method_names_with_and_without_module() -> None:
    assert split_method("steps.train.estimator_fn", "train") == ("train", "estimator_fn")
    assert split_method("estimator_fn", "train") == ("train", "estimator_fn")


def test_estimator_class_params_and_passed_estimator_params(tmp_path: Path) -> None:
    write(
        tmp_path,
        "train",
        '"""doc"""\n\ndef estimator_fn(estimator_params=None):\n'
        "    from sklearn.svm import SVC\n"
        '    return SVC(C=2.0, kernel="rbf", probability=True, **(estimator_params or {}))\n',
    )
    info = read_function(tmp_path, "estimator_fn", "train")
    assert info.found and not info.noop
    assert info.estimator_class == "sklearn.svm.SVC"
    assert info.params == {"C": 2.0, "kernel": "rbf", "probability": True}
    assert info.passes_estimator_params
    assert info.where == "train.py:3"


def test_module_imports_and_aliases(tmp_path: Path) -> None:
    write(
        tmp_path,
        "train",
        "import sklearn.linear_model as lm\n\ndef make():\n    return lm.Ridge(alpha=x)\n",
    )
    info = read_function(tmp_path, "steps.train.make", "train")
    assert info.estimator_class == "sklearn.linear_model.Ridge"
    assert info.params == {}
    assert "alpha=x is not a literal" in info.problem


@pytest.mark.parametrize(
    ("body", "noop"),
    [
        ('    """identity"""\n    return None\n', True),
        ("    pass\n", True),
        ("    return Series(True, index=df.index)\n", True),
        ("    return pd.Series(True, index=df.index)\n", True),
        ('    return df["price"] < 500001\n', False),
        ("    x = 1\n    return None\n", False),
    ],
)
def test_placeholders_are_recognised(tmp_path: Path, body: str, noop: bool) -> None:
    write(tmp_path, "split", f"def create_dataset_filter(df):\n{body}")
    assert read_function(tmp_path, "create_dataset_filter", "split").noop is noop


def test_missing_function_and_file(tmp_path: Path) -> None:
    assert read_function(tmp_path, "estimator_fn", "train").problem == "steps/train.py not found"
    write(tmp_path, "train", "def other():\n    return 1\n")
    info = read_function(tmp_path, "estimator_fn", "train")
    assert not info.found
    assert info.problem == "no function estimator_fn() in steps/train.py"


def test_syntax_errors_are_reported_not_raised(tmp_path: Path) -> None:
    write(tmp_path, "train", "def estimator_fn(:\n")
    assert "cannot parse steps/train.py" in read_function(tmp_path, "estimator_fn", "train").problem
