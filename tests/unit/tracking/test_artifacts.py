"""What the artifact check refuses, and how it names the file (no MLflow needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlctl.errors import ModelRejected
from mlctl.tracking.artifacts import (
    DIGEST_TAG,
    FILES_TAG,
    check_files,
    registration_tags,
)
from mlctl.tracking.registry import version_info

pytestmark = pytest.mark.unit


def stored(tmp_path: Path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "model.skops").write_bytes(bytes(range(256)) * 10)
    (folder / "requirements.txt").write_text("scikit-learn==1.9.1\n")
    info = version_info("churn", 2, [], "run", 0, registration_tags(folder), "models:/m-1")
    return folder, info


def test_intact_files_pass(tmp_path) -> None:
    folder, info = stored(tmp_path)
    assert check_files(info, folder) == info.tags[DIGEST_TAG]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda f: (f / "model.skops").write_bytes(b"x"), "model.skops (expected"),
        (lambda f: (f / "extra.txt").write_text("x"), "extra.txt (added)"),
        (lambda f: (f / "MLmodel").unlink(), "MLmodel (removed)"),
        (lambda f: (f / "registered_model_meta").write_text("x"), "registered_model_meta (added)"),
        (lambda f: (f / "requirements.txt").write_text("evil\n"), "requirements.txt (expected"),
    ],
)
def test_changed_files_are_refused_and_named(tmp_path, change, named) -> None:
    folder, info = stored(tmp_path)
    change(folder)
    with pytest.raises(ModelRejected, match="churn version 2") as err:
        check_files(info, folder, "file:///store/m-1")
    assert named in err.value.message
    assert f"expected {info.tags[DIGEST_TAG][:12]}" in err.value.message
    assert "file:///store/m-1" in err.value.hint
    assert err.value.exit_code == 8


def test_a_missing_or_edited_digest_tag_is_refused(tmp_path) -> None:
    folder, info = stored(tmp_path)
    info.tags[DIGEST_TAG] = "0" * 64
    with pytest.raises(ModelRejected, match="the mlctl.sha256 tag was changed"):
        check_files(info, folder)
    del info.tags[DIGEST_TAG]
    with pytest.raises(ModelRejected, match="no recorded SHA-256"):
        check_files(info, folder)


def test_without_a_file_record_the_refusal_still_stands(tmp_path) -> None:
    folder, info = stored(tmp_path)
    del info.tags[FILES_TAG]
    (folder / "model.skops").write_bytes(b"")
    with pytest.raises(ModelRejected, match="no per-file record"):
        check_files(info, folder)
