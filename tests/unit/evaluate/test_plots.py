import matplotlib
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from mlctl.errors import RecipeError
from mlctl.evaluate import plots

pytestmark = pytest.mark.unit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path, max_bytes=400_000):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert 1_000 < len(data) < max_bytes


@pytest.fixture(scope="module")
def binary_case():
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    model = LogisticRegression().fit(X, y)
    return y, model.predict(X), model.predict_proba(X)


IMPORTANCES = [("age", 0.12, 0.01), ("income", 0.05, 0.02), ("city", -0.001, 0.003)]


def test_backend_is_agg():
    assert matplotlib.get_backend().lower() == "agg"


def test_binary_curves(tmp_path, binary_case):
    y, _, proba = binary_case
    y_bin = y == 1
    for fn, name in (
        (plots.roc_curve_png, "roc"),
        (plots.pr_curve_png, "pr"),
    ):
        out = fn(y_bin, proba[:, 1], tmp_path / "sub" / f"{name}.png", "positive class = 1")
        assert out == tmp_path / "sub" / f"{name}.png"
        assert_png(out)
    assert_png(plots.calibration_png(y_bin, proba[:, 1], tmp_path / "cal.png", n_bins=5))


def test_undefined_curves_still_write_a_png(tmp_path):
    y = np.ones(10, dtype=bool)
    score = np.linspace(0, 1, 10)
    assert_png(plots.roc_curve_png(y, score, tmp_path / "roc.png", "x"))
    assert_png(plots.pr_curve_png(y, score, tmp_path / "pr.png", "x"))
    assert_png(plots.calibration_png(y, score, tmp_path / "cal.png"))
    assert_png(plots.importance_png([], tmp_path / "imp.png"))
    assert_png(plots.residuals_png([], [], tmp_path / "res.png"))


def test_confusion_and_importance(tmp_path):
    assert_png(plots.confusion_matrix_png([[5, 1], [2, 7]], ["no", "yes"], tmp_path / "cm.png"))
    many = [(f"feature_{i}", 1.0 / (i + 1), 0.01) for i in range(40)]
    assert_png(plots.importance_png(many, tmp_path / "imp.png", top=20))


def test_regression_plots(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    pred = y + rng.normal(scale=0.3, size=300)
    assert_png(plots.residuals_png(y, pred, tmp_path / "res.png"))
    assert_png(plots.predicted_vs_actual_png(y, pred, tmp_path / "pva.png"))


def test_make_plots_binary(tmp_path, binary_case):
    y, pred, proba = binary_case
    made = plots.make_plots(
        "classification", y, pred, proba, [0, 1], 1, IMPORTANCES, tmp_path / "plots"
    )
    assert set(made) == {"roc", "pr", "calibration", "confusion_matrix", "importance"}
    for name, path in made.items():
        assert path == tmp_path / "plots" / f"{name}.png"
        assert_png(path)


def test_make_plots_binary_with_string_labels_and_no_importance(tmp_path, binary_case):
    y, pred, proba = binary_case
    labels = np.array(["no", "yes"])
    made = plots.make_plots(
        "classification", labels[y], labels[pred], proba, ["no", "yes"], "yes", [], tmp_path
    )
    assert set(made) == {"roc", "pr", "calibration", "confusion_matrix"}


def test_make_plots_multiclass(tmp_path):
    X, y = make_classification(
        n_samples=150, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    model = LogisticRegression().fit(X, y)
    made = plots.make_plots(
        "classification",
        y,
        model.predict(X),
        model.predict_proba(X),
        [0, 1, 2],
        None,
        IMPORTANCES,
        tmp_path,
    )
    assert set(made) == {"confusion_matrix", "importance"}
    for path in made.values():
        assert_png(path)


def test_make_plots_regression(tmp_path):
    y = np.arange(50, dtype=float)
    made = plots.make_plots("regression", y, y * 1.1, None, None, None, IMPORTANCES, tmp_path)
    assert set(made) == {"residuals", "predicted_vs_actual", "importance"}
    for path in made.values():
        assert_png(path)


def test_make_plots_rejects_unknown_task(tmp_path):
    with pytest.raises(RecipeError):
        plots.make_plots("ranking", [1], [1], None, None, None, None, tmp_path)
