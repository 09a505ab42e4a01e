"""Registry operations on a real SQLite MLflow store: promote, rollback, unregister."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlctl.errors import RegistryError
from mlctl.tracking.registry import CHALLENGER, CHAMPION, Registry
from mlctl.tracking.runs import ParentRun
from mlctl.tracking.workspace import prepare, resolve_workspace

pytestmark = pytest.mark.integration


@pytest.fixture()
def registry(tmp_path, monkeypatch):
    monkeypatch.delenv("MLCTL_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws = resolve_workspace(tmp_path / "ws")
    prepare(ws)
    reg = Registry(ws)
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    versions = []
    for i in range(3):
        with ParentRun(ws, "exp", f"run{i}", {}) as run:
            uri = run.log_model(model, X[:2])
            versions.append(reg.register(uri, "m", run.run_id, {"mlctl.gate": "passed"}))
    return reg, versions


def test_promote_rollback_history(registry) -> None:
    reg, (v1, v2, v3) = registry
    reg.set_challenger("m", v3)
    reg.promote("m", v1, "first")
    reg.promote("m", v2, "second")
    assert reg.alias_version("m", CHAMPION) == v2
    assert reg.champion_history("m") == [v1, v2]
    reg.promote("m", v3, "third")
    assert reg.alias_version("m", CHALLENGER) is None  # the challenger became champion
    assert reg.rollback("m", "bad canary") == (v3, v2)
    assert reg.alias_version("m", CHAMPION) == v2
    assert "bad canary" in reg.version("m", v3).tags["mlctl.rolled_back"]
    assert reg.rollback("m", "again") == (v2, v1)
    with pytest.raises(RegistryError, match="no earlier champion"):
        reg.rollback("m", "once more")


def test_unregister_restores_previous_champion(registry) -> None:
    reg, (v1, v2, _) = registry
    reg.promote("m", v1, "first")
    reg.promote("m", v2, "second")
    reg.unregister("m", v2)
    assert reg.alias_version("m", CHAMPION) == v1
    assert reg.champion_history("m") == [v1]
    assert v2 not in {v.version for v in reg.versions("m")}


def test_refusals(registry) -> None:
    reg, (v1, *_) = registry
    with pytest.raises(RegistryError, match="no registered model named 'nope'"):
        reg.versions("nope")
    with pytest.raises(RegistryError, match="no champion to roll back"):
        reg.rollback("m", "x")
    reg.client.set_model_version_tag("m", str(v1), "mlctl.gate", "failed")
    with pytest.raises(RegistryError, match="failed its readiness gate"):
        reg.promote("m", v1, "x")
    assert reg.promote("m", v1, "x", force=True).aliases == [CHAMPION]


def test_loading_verifies_the_sha256_recorded_at_registration(registry, tmp_path) -> None:
    reg, (v1, v2, _) = registry
    loaded = reg.load_reference(f"m/{v1}", verify=True)
    assert loaded.digest == reg.version("m", v1).tags["mlctl.sha256"]
    assert loaded.pipeline.predict(np.array([[3.0]]))[0] == 1
    # Flip one byte of the stored model file of version 2, as a damaged disk would.
    source = reg.client.get_model_version_download_uri("m", str(v2))
    folder = tmp_path / "ws" / "artifacts"
    stored = next(p for p in folder.rglob("model.skops") if source == p.parent.as_uri())
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    with pytest.raises(RegistryError, match="do not match the SHA-256 recorded"):
        reg.load_reference(f"m/{v2}", verify=True)
    assert reg.load_reference(f"m/{v1}", verify=True).version == v1  # others still load
