"""MLflow runs: one parent run per ``mlctl run``, a nested run per candidate.

MLflow is imported only in this package. A run that fails or is interrupted is
always ended as FAILED or KILLED, never left RUNNING.
"""

from __future__ import annotations

import math
import os
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlctl import __version__, interrupts
from mlctl.errors import MlctlError, TrackingError
from mlctl.redact import redact_text, redact_tree
from mlctl.text import first_line
from mlctl.tracking.workspace import Workspace

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "mlctl_runtime.", "mlctl.", "builtins.")
REQUIREMENTS = ("scikit-learn", "skops", "numpy", "pandas", "scipy", "pyarrow")


def git_commit(folder: Path) -> str | None:
    """HEAD commit of the git checkout holding ``folder``, if any."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def use_store(uri: str) -> Callable[[], None]:
    """Point MLflow's fluent API (``mlflow.start_run``, ``log_model``, ...) at ``uri``;
    returns the function that puts back the URIs and environment of before.

    MLflow's setters also export ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI`` (for
    child processes), and :func:`~mlctl.tracking.workspace.resolve_workspace` reads
    them first: left in place, they would send the next recipe run in the same process
    (a notebook, a test) to this store instead of its own workspace.
    """
    import mlflow

    saved = {name: os.environ.get(name) for name in _URI_VARIABLES}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)

    def restore() -> None:
        mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])  # None: MLflow's default
        mlflow.set_registry_uri(saved["MLFLOW_REGISTRY_URI"])
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    return restore


def _experiment_id(ws: Workspace, name: str) -> str:
    import mlflow

    name = redact_text(name)  # a name built from a secret variable keeps it masked

    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            raise TrackingError(
                f"experiment '{name}' is deleted in {ws.tracking_uri}",
                hint="restore it (mlflow experiments restore) or set tracking.experiment",
            )
        return exp.experiment_id
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.create_experiment(name, artifact_location=ws.artifact_location)
    except MlflowException as exc:  # another run created it a moment ago
        exp = mlflow.get_experiment_by_name(name)
        if exp is None or "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
        return exp.experiment_id


class ParentRun:
    """The parent run of one ``mlctl run``; use as a context manager."""

    def __init__(self, ws: Workspace, experiment: str, run_name: str, tags: dict[str, str]):
        self.ws = ws
        self.experiment = experiment
        self.run_name = redact_text(run_name)
        self.tags = {"mlctl.version": __version__, **{k: redact_text(v) for k, v in tags.items()}}
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self._restore: Callable[[], None] = lambda: None

    def __enter__(self) -> ParentRun:
        import mlflow

        self._restore = use_store(self.ws.tracking_uri)
        try:
            self.experiment_id = _experiment_id(self.ws, self.experiment)
            run = mlflow.start_run(
                experiment_id=self.experiment_id, run_name=self.run_name, tags=self.tags
            )
        except MlctlError:
            self._restore()
            raise
        except Exception as exc:
            self._restore()
            raise TrackingError(
                redact_text(f"cannot start an MLflow run at {self.ws.tracking_uri}: {exc}")
            ) from None
        self.run_id = run.info.run_id
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        import mlflow

        if exc_type is None:
            status = "FINISHED"
        elif issubclass(exc_type, KeyboardInterrupt | SystemExit) or interrupts.received():
            status = "KILLED"  # also what a signal broke on its way (e.g. dead workers)
        else:
            status = "FAILED"
        with interrupts.deferred():  # a second signal cannot leave the run RUNNING
            while mlflow.active_run() is not None:
                try:
                    mlflow.end_run(status)
                except Exception:
                    break
            self._restore()

    # ---------------------------------------------------------------- logging
    def log_params(self, params: dict[str, Any]) -> None:
        import mlflow

        mlflow.log_params({k: _param(redact_text(v)) for k, v in params.items()})

    def log_metrics(self, metrics: dict[str, float]) -> None:
        import mlflow

        clean = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
        if clean:
            mlflow.log_metrics(clean)

    def set_tags(self, tags: dict[str, Any]) -> None:
        import mlflow

        mlflow.set_tags({k: redact_text(v) for k, v in tags.items()})

    def log_datasets(
        self,
        splits: dict[str, tuple[Any, Any]],
        *,
        name: str,
        source: str,
        digest: str,
        target: str,
    ) -> str | None:
        """Log each split (context -> (X, y)) as an MLflow dataset input of the run
        (``mlflow.log_input``): its name, source, schema with the target, row count, and
        a digest from the data files' SHA-256. Returns why it could not, or None: the
        run does not fail for it."""
        import mlflow

        try:
            with warnings.catch_warnings():
                # MLflow's hints (a local path is "ambiguous" between two equal source
                # types; integer columns) are about its model signatures, not this.
                warnings.simplefilter("ignore", UserWarning)
                for context, (X, y) in splits.items():
                    frame = X.copy(deep=False)
                    frame[target] = y.to_numpy()
                    dataset = mlflow.data.from_pandas(
                        frame,
                        source=source,
                        targets=target,
                        name=f"{name}-{context}",
                        digest=f"{digest[:16]}-{context}"[:36],
                    )
                    mlflow.log_input(dataset, context=context)
        except Exception as exc:
            return f"the data was not logged as an MLflow dataset: {first_line(exc)}"
        return None

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        import mlflow

        mlflow.log_artifacts(str(folder), artifact_path)

    def log_dict(self, data: dict[str, Any], name: str) -> None:
        import mlflow

        mlflow.log_dict(redact_tree(data), name)

    def log_text(self, text: str, name: str, redact: bool = True) -> None:
        """Log ``text`` as the artifact file ``name`` (log_dict indents), with secrets
        masked unless ``redact`` is False (data, such as the reference profile)."""
        import mlflow

        mlflow.log_text(redact_text(text) if redact else text, name)

    def log_child(
        self,
        name: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, Any],
        trials: list[dict[str, Any]] | None = None,
        trial_metric: str = "trial_score",
    ) -> str:
        """A nested run for one candidate; returns its run id.

        Optuna trials become the history of ``trial_metric`` (step = trial number) and
        a ``trials.json`` artifact with every trial's state, value and params.
        """
        import mlflow

        with mlflow.start_run(
            experiment_id=self.experiment_id,
            run_name=name,
            nested=True,
            tags={"mlctl.candidate": name},
        ) as run:
            if params:
                self.log_params(params)
            self.log_metrics(metrics)
            self.set_tags(tags)
            for t in trials or []:
                if t["value"] is not None:
                    mlflow.log_metric(trial_metric, t["value"], step=t["number"])
            if trials:
                mlflow.log_dict({"trials": trials}, "trials.json")
            return run.info.run_id

    def log_model(
        self, pipeline: Any, example: Any, extra_prefixes: list[str] | tuple[str, ...] = ()
    ) -> str:
        """Log the fitted Pipeline in MLflow's sklearn flavor; returns the model URI.

        The model carries ``mlctl_runtime`` (the pipeline's own transformers) as MLflow
        ``code_paths``, so it loads where mlctl is not installed (docs/tracking.md).

        Raises:
            TrackingError: the pipeline holds a type outside the trusted prefixes, or
                MLflow could not store it.
        """
        import tempfile

        import mlflow

        trusted = trusted_types(pipeline, extra_prefixes)
        output = pipeline.predict(example)
        try:
            with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
                warnings.simplefilter("ignore")  # MLflow's hints about the example's types
                info = mlflow.sklearn.log_model(
                    pipeline,
                    name="model",
                    signature=False,  # the pipeline reads raw rows; see input_schema_metadata
                    metadata={
                        **input_schema_metadata(example, output),
                        **decision_metadata(pipeline),
                    },
                    input_example=example,
                    pip_requirements=requirements(),
                    code_paths=[str(runtime_bundle(Path(tmp)))],
                    serialization_format="skops",
                    skops_trusted_types=trusted,
                )
        except MlctlError:
            raise
        except Exception as exc:
            raise TrackingError(f"could not log the model to MLflow: {exc}") from None
        return info.model_uri


INPUT_SCHEMA_KEY = "mlctl_input_schema"


def input_schema_metadata(example: Any, output: Any) -> dict[str, Any]:
    """The input columns and types mlctl checks requests against, for the MLmodel's
    ``metadata`` (``{"mlctl_input_schema": [{"type", "name", "required"}, ...]}``).

    The model is logged WITHOUT an MLflow signature on purpose: MLflow enforces one type
    per column (a ``double`` column refuses the text ``" "``, a ``string`` one refuses
    numbers, a ``long`` one refuses ``1.0`` and missing values; ``Any`` breaks CSV
    input), while the pipeline's first step reads raw values of any type, in any column
    order. The types MLflow would infer from the example live here instead, for mlctl's
    own checks (:meth:`~mlctl.tracking.registry.Registry.load_reference`).
    """
    from mlflow.models import infer_signature

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = infer_signature(example, output).inputs
    return {INPUT_SCHEMA_KEY: inputs.to_dict() if inputs is not None else []}


THRESHOLD_KEY = "mlctl_decision_threshold"
POSITIVE_CLASS_KEY = "mlctl_positive_class"


def decision_metadata(pipeline: Any) -> dict[str, Any]:
    """A binary classifier's decision rule, for the MLmodel's ``metadata``: ``predict``
    answers ``mlctl_positive_class`` when that class's probability is at least
    ``mlctl_decision_threshold`` (docs/evaluation.md#decision-threshold). Read by
    anyone who scores ``predict_proba`` without mlctl. Empty for other models."""
    from sklearn.model_selection import FixedThresholdClassifier

    classes = list(getattr(pipeline, "classes_", []))
    if len(classes) != 2 or not hasattr(pipeline, "predict_proba"):
        return {}
    last = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    if isinstance(last, FixedThresholdClassifier):
        threshold, positive = last.threshold, last.pos_label
    else:  # sklearn's own rule: the more probable class, i.e. 0.5 for the second one
        threshold, positive = 0.5, classes[1]
    plain = positive.item() if hasattr(positive, "item") else positive
    return {THRESHOLD_KEY: float(threshold), POSITIVE_CLASS_KEY: plain}


def input_schema(meta: Any) -> list[dict[str, Any]]:
    """A logged model's input columns: the MLflow signature's (models logged before
    mlctl_runtime), else mlctl's metadata (:func:`input_schema_metadata`), else none."""
    if meta.signature is not None and meta.signature.inputs is not None:
        return meta.signature.inputs.to_dict()
    schema = (meta.metadata or {}).get(INPUT_SCHEMA_KEY)
    return list(schema) if isinstance(schema, list) else []


def runtime_bundle(folder: Path) -> Path:
    """A copy of the installed ``mlctl_runtime`` package (its .py files) under ``folder``.

    Only the package's own modules: they import the standard library, numpy, pandas
    and scikit-learn, never mlctl (tests/unit/features/test_runtime_bundle.py).
    """
    import shutil

    import mlctl_runtime

    source = Path(mlctl_runtime.__file__).resolve().parent
    target = folder / "mlctl_runtime"
    target.mkdir(parents=True)
    for module in sorted(source.glob("*.py")):
        shutil.copy2(module, target / module.name)
    return target


def read_run_text(ws: Workspace, run_id: str, path: str) -> str | None:
    """The text of a run's artifact file, or None when the run has no such file.

    Raises:
        TrackingError: the store or the artifact cannot be read.
    """
    import tempfile

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)
    folder, _, _ = path.rpartition("/")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            listed = {a.path for a in client.list_artifacts(run_id, folder or None)}
            if path not in listed:
                return None
            with tempfile.TemporaryDirectory() as tmp:
                local = client.download_artifacts(run_id, path, tmp)
                return Path(local).read_text(encoding="utf-8")
    except Exception as exc:  # MLflow raises many types for an unreadable store
        raise TrackingError(
            f"cannot read {path} of run {run_id} at {ws.tracking_uri}: {exc}"
        ) from None


def trusted_types(pipeline: Any, extra_prefixes: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Exactly the types skops must trust to load this pipeline.

    Every type must be under a trusted prefix (sklearn, numpy, scipy, mlctl, or one
    the user trusts: ``extra_prefixes``, from ``--trust-prefix`` /
    ``MLCTL_TRUSTED_PREFIXES``, never from the recipe); anything else is refused
    rather than trusted blindly or pickled.
    """
    import skops.io as sio

    untrusted = sorted(sio.get_untrusted_types(data=sio.dumps(pipeline)))
    allowed = TRUSTED_PREFIXES + tuple(p if p.endswith(".") else p + "." for p in extra_prefixes)
    refused = [t for t in untrusted if not t.startswith(allowed)]
    if refused:
        raise TrackingError(
            f"the model holds types that are not trusted for loading: {', '.join(refused)}",
            hint="if you trust their module, pass --trust-prefix MODULE "
            "(or set MLCTL_TRUSTED_PREFIXES)",
        )
    return untrusted


def requirements() -> list[str]:
    """Pinned pip requirements of the logged model (saves MLflow's slow inference)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in REQUIREMENTS:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return out


def _param(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."
