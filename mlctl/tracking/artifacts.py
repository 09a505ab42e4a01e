"""The one way mlctl loads a registered model: verified, then deserialized.

At registration, :meth:`~mlctl.tracking.registry.Registry.register` records the SHA-256
of the model's files (:func:`tree_digest`, tag ``mlctl.sha256``) and of each file
(tag ``mlctl.files_sha256``, to name the file that changed). Every command that loads
a model (``predict``, ``monitor``, ``serve``, the champion comparison of ``run``) goes
through :func:`load_verified_model`: it downloads the version's files into a temporary
folder, checks them against the recorded digest, and only then deserializes that same
copy. ``models promote`` and ``rollback`` check the files too (:func:`verify_version`)
without deserializing them. A truncated, bit-flipped, swapped, added or removed file, an
edited ``MLmodel`` or ``requirements.txt``, a removed or edited digest tag: refused with
:class:`ModelRejected` (exit 8).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from mlctl.errors import ModelRejected, ModelUnreadable

if TYPE_CHECKING:
    from mlctl.tracking.registry import LoadedModel, Registry, VersionInfo

DIGEST_TAG = "mlctl.sha256"  # of the model's artifact files, recorded at registration
FILES_TAG = "mlctl.files_sha256"  # JSON {relative path: SHA-256}, recorded at registration
# Written by MLflow into a download of a models:/NAME/VERSION URI; never a stored file.
DOWNLOAD_ONLY = frozenset({"registered_model_meta"})
SHOWN = 12  # hex digits of a digest shown in a message


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_digest(folder: str | Path) -> str:
    """SHA-256 over every file under ``folder``: relative path and content, sorted by path.

    A truncated, bit-flipped, added, removed or renamed file changes it. MLflow's own
    download metadata (:data:`DOWNLOAD_ONLY`) is left out.
    """
    root = Path(folder)
    h = hashlib.sha256()
    for path in _files(root):
        rel = path.relative_to(root).as_posix()
        if rel in DOWNLOAD_ONLY:
            continue
        h.update(len(rel.encode()).to_bytes(8, "big") + rel.encode())
        h.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def file_digests(folder: str | Path) -> dict[str, str]:
    """SHA-256 of each file under ``folder`` by relative path (:data:`DOWNLOAD_ONLY` left out)."""
    root = Path(folder)
    found = {p.relative_to(root).as_posix(): p for p in _files(root)}
    return {rel: _file_sha256(p) for rel, p in found.items() if rel not in DOWNLOAD_ONLY}


def registration_tags(folder: str | Path) -> dict[str, str]:
    """The digest tags recorded with a new version whose files are in ``folder``."""
    return {
        DIGEST_TAG: tree_digest(folder),
        FILES_TAG: json.dumps(file_digests(folder), sort_keys=True, separators=(",", ":")),
    }


def check_files(info: VersionInfo, folder: Path, location: str | None = None) -> str:
    """The digest of ``folder`` (a copy of the files at ``location``) when it is what
    ``info`` recorded at registration.

    Raises:
        ModelRejected: no digest recorded, or the files differ (the message names the
            files, with the expected and found digests).
    """
    who = f"{info.name} version {info.version}"
    expected = info.tags.get(DIGEST_TAG)
    if not expected:
        raise ModelRejected(
            f"{who} has no recorded SHA-256 (tag {DIGEST_TAG}); refusing to load an "
            "unverified model",
            hint="register it again with this mlctl (mlctl run)",
        )
    extra = sorted(p.relative_to(folder).as_posix() for p in _files(folder))
    planted = [
        rel for rel in extra if rel in DOWNLOAD_ONLY and not _mlflow_meta(info, folder / rel)
    ]
    digest = tree_digest(folder)
    if digest == expected and not planted:
        return digest
    raise ModelRejected(
        f"{who}: the model files do not match the SHA-256 recorded at registration "
        f"(expected {expected[:SHOWN]}…, found {digest[:SHOWN]}…): "
        f"{_what_changed(info, folder, planted)}; refusing to use them",
        hint=f"the files at {location or info.source} were changed or damaged after "
        "registration; restore them, or register the model again",
    )


def _mlflow_meta(info: VersionInfo, path: Path) -> bool:
    """True for the ``registered_model_meta`` MLflow itself writes into a local model
    folder when a ``models:/`` URI is loaded (``model_name`` and ``model_version`` of
    this very version, nothing else): a user's ``mlflow.pyfunc.load_model`` is not
    tampering. Any other content is."""
    try:
        lines = path.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    fields = dict(line.partition(": ")[::2] for line in lines)
    return fields == {"model_name": info.name, "model_version": str(info.version)} or fields == {
        "model_name": info.name,
        "model_version": f"'{info.version}'",
    }


def _what_changed(info: VersionInfo, folder: Path, planted: list[str]) -> str:
    """``model.skops (expected 3fa1…, found 9b0e…), extra.txt (added)``, or what can be
    said without a per-file record."""
    try:
        recorded = json.loads(info.tags.get(FILES_TAG, ""))
    except ValueError:
        recorded = None
    if not isinstance(recorded, dict):
        return f"no per-file record ({FILES_TAG}) names the file"
    found = file_digests(folder)
    parts = [
        f"{rel} (expected {str(old)[:SHOWN]}…, found {found[rel][:SHOWN]}…)"
        for rel, old in sorted(recorded.items())
        if rel in found and found[rel] != old
    ]
    parts += [f"{rel} (removed)" for rel in sorted(recorded) if rel not in found]
    parts += [f"{rel} (added)" for rel in sorted(set(found) - set(recorded))]
    parts += [f"{rel} (added)" for rel in planted]
    if not parts:  # every file matches its own record: the digest tag was changed
        return f"each file matches {FILES_TAG}, so the {DIGEST_TAG} tag was changed"
    return ", ".join(parts)


def _download(registry: Registry, info: VersionInfo, dst: str) -> tuple[Path, str | None]:
    """The version's stored files, copied into ``dst``, and where they are stored.

    Raises:
        ModelRejected: the files cannot be read (e.g. the folder was removed).
    """
    import mlflow

    uri = None
    try:
        uri = registry.client.get_model_version_download_uri(info.name, str(info.version))
        if uri.startswith("file:") and not Path(unquote(urlparse(uri).path)).is_dir():
            raise FileNotFoundError("the folder does not exist")
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dst)
    except Exception as exc:  # MLflow raises many types for a missing or unreadable file
        cause = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelUnreadable(
            f"{info.name} version {info.version}: the model files at "
            f"{uri or info.source} cannot be read: {cause}",
            hint="restore the files, or register the model again",
        ) from None
    return Path(local), uri


def verify_version(registry: Registry, name: str, version: int | str) -> VersionInfo:
    """Check a version's files against its recorded digest without deserializing them.

    Raises:
        RegistryError: unknown model or version.
        ModelRejected: as :func:`check_files`, or the files cannot be read.
    """
    info = registry.version(name, version)
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")
        check_files(info, *_download(registry, info, tmp))
    return info


def load_verified_model(registry: Registry, reference: str) -> LoadedModel:
    """Load ``name@alias`` or ``name/version`` (``name`` alone means ``@champion``): the
    files are downloaded, checked against the digest recorded at registration, and only
    then deserialized, from that same checked copy.

    Raises:
        RegistryError: malformed reference, unknown model, version or alias (the
            message lists the versions and aliases that exist).
        ModelRejected: no recorded digest, files that differ from it, or files that
            cannot be read.
    """
    import mlflow

    from mlctl.tracking.registry import LoadedModel, parse_reference
    from mlctl.tracking.runs import input_schema

    name, selector = parse_reference(reference)
    info = registry.version(name, selector)
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")
        local, location = _download(registry, info, tmp)
        digest = check_files(info, local, location)
        pipeline = _deserialize(info, local)  # fully in memory afterwards
        meta = mlflow.models.Model.load(local)
        example = _input_example(meta, local)
    schema = input_schema(meta)  # the signature of older models, else mlctl's metadata
    return LoadedModel(
        name, info.version, info.aliases, pipeline, schema, info.tags, info.metrics, digest, example
    )


def _deserialize(info: VersionInfo, local: Path) -> Any:
    import mlflow

    from mlctl.tracking.registry import own_sys_path

    try:
        with own_sys_path():  # MLflow leaves the model's code folder on sys.path
            return mlflow.sklearn.load_model(str(local))
    except Exception as exc:  # verified files that still do not load: say which version
        raise ModelRejected(
            f"{info.name} version {info.version} matches its recorded SHA-256 but cannot be "
            f"loaded: {type(exc).__name__}: {str(exc)[:200]}",
            hint="the libraries differ from the ones it was trained with (requirements.txt)",
        ) from None


def _input_example(meta: Any, local: Path) -> Any:
    try:
        return meta.load_input_example(str(local))
    except Exception:  # an example is a convenience; its absence is not an error
        return None
