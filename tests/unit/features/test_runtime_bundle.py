"""mlctl_runtime, the package a logged model carries: self-contained, and the one mlctl uses.

- its modules import only the standard library, numpy, pandas and scikit-learn (never
  mlctl, nothing heavy), so a model's copy loads where mlctl is not installed;
- skops files of models logged before it existed (``mlctl.features.transformers.*``)
  still load, as the same classes;
- ``import mlctl`` replaces a model's copy loaded earlier in the process by the
  installed one.
"""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline

import mlctl_runtime
from mlctl.tracking.runs import runtime_bundle
from mlctl_runtime.transformers import ColumnCoercer, DerivedFeatures

pytestmark = pytest.mark.unit

RUNTIME = Path(mlctl_runtime.__file__).resolve().parent
ALLOWED = {"__future__", "mlctl_runtime", "numpy", "pandas", "sklearn"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", sorted(p.name for p in RUNTIME.glob("*.py")))
def test_runtime_modules_import_nothing_of_mlctl(module: str) -> None:
    roots = imported_roots(RUNTIME / module)
    outside = {r for r in roots - ALLOWED if r not in sys.stdlib_module_names}
    assert not outside, f"{module} imports {outside}"


def test_bundle_holds_only_the_runtime_sources(tmp_path: Path) -> None:
    bundle = runtime_bundle(tmp_path)
    assert bundle == tmp_path / "mlctl_runtime"
    assert sorted(p.name for p in bundle.iterdir()) == sorted(p.name for p in RUNTIME.glob("*.py"))


def test_runtime_imports_alone_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """Only the bundle on the path (mlctl importable or not, it must not be imported)."""
    runtime_bundle(tmp_path)
    code = (
        "import sys; import mlctl_runtime.transformers as t; "
        "assert not any(m == 'mlctl' or m.startswith('mlctl.') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('mlctl')); print(t.__file__)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().startswith(str(tmp_path))


def _renamed(blob: bytes, old: str, new: str) -> bytes:
    """A skops file whose classes are recorded under another module name."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "schema.json":
                data = json.dumps(json.loads(data)).replace(old, new).encode()
            dst.writestr(item, data)
    return out.getvalue()


def test_models_logged_before_the_runtime_still_load() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [" ", "2", "3"]})
    pipe = Pipeline(
        [
            ("coerce", ColumnCoercer({"b": "float"})),
            ("derive", DerivedFeatures([("r", "a / b")])),
        ]
    ).fit(frame)
    old = _renamed(sio.dumps(pipe), '"mlctl_runtime.transformers"', '"mlctl.features.transformers"')
    untrusted = sorted(sio.get_untrusted_types(data=old))
    assert untrusted == [
        "mlctl.features.transformers.ColumnCoercer",
        "mlctl.features.transformers.DerivedFeatures",
    ]
    restored = sio.loads(old, trusted=untrusted)
    assert type(restored[0]) is ColumnCoercer
    pd.testing.assert_frame_equal(restored.transform(frame), pipe.transform(frame))


def test_import_mlctl_replaces_a_model_copy_loaded_first(tmp_path: Path) -> None:
    """A notebook loads a model (its code folder goes first on sys.path), then imports
    mlctl: mlctl must use the installed runtime, not the model's (older) copy."""
    stale = runtime_bundle(tmp_path / "code")
    (stale / "__init__.py").write_text("STALE = True\n")
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path / 'code')!r}); "
        "import mlctl_runtime; assert mlctl_runtime.STALE; "
        "import mlctl, mlctl.features.transformers as t, mlctl_runtime as r; "
        "assert not hasattr(r, 'STALE'); print(r.__file__); print(t.__file__)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert [Path(p).parent for p in res.stdout.split()] == [RUNTIME, RUNTIME]
