"""A rendered Recipes project → an mlctl recipe dict, and a report of every item.

Each Recipes setting ends up in one of three states (see :class:`Report`): mapped,
approximated (carried over with a stated difference) or unmapped (with a hint).
The recipe written is self-contained: no ``defaults:`` from a ``conf/`` folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlctl.importer import metrics
from mlctl.importer.ingest import display, map_data, map_features, project_path
from mlctl.importer.models import map_train
from mlctl.importer.project import RecipesProject
from mlctl.importer.pysource import read_function
from mlctl.importer.report import Report

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass
class Conversion:
    """The mlctl recipe for a Recipes project, and what could not be carried over."""

    project: RecipesProject
    name: str
    recipe: dict[str, Any]
    report: Report
    out: Path
    blockers: list[str] = field(default_factory=list)  # why `mlctl run` would fail as is
    target_values: Any = field(default=None, repr=False)  # the target column, once read

    @property
    def runnable(self) -> bool:
        return not self.blockers


def recipe_name(project: RecipesProject) -> str:
    """The registered model name when it is a valid recipe name, else the folder name."""
    registry = project.config.get("model_registry") or {}
    model = str(registry.get("model_name") or "") if isinstance(registry, dict) else ""
    if NAME_PATTERN.match(model):
        return model
    folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", project.root.name).strip("_.-") or "imported"
    return folder[:100] if NAME_PATTERN.match(folder) else "imported"


def convert(project: RecipesProject, out: Path) -> Conversion:
    """Map the project to an mlctl recipe that will be written at ``out``."""
    report = Report()
    name = recipe_name(project)
    conv = Conversion(project, name, {}, report, out)
    r: dict[str, Any] = {"name": name, "task": project.task, "seed": 42}
    report.mapped(
        f"recipe: {project.template}",
        "task",
        project.task,
        comment=f"recipe: {project.template}",
    )
    data, columns = map_data(conv)
    r["data"] = data
    r["split"] = _split(conv)
    r["features"] = map_features(conv, columns)
    candidates, tuning = map_train(project, report)
    _transform(conv)
    r["models"] = {
        "selection_metric": _primary_metric(conv),
        "cv_folds": 5,
        "candidates": candidates,
    }
    r["tuning"] = tuning
    r["readiness"] = _readiness(conv)
    tracking = _tracking(conv)
    if tracking:
        r["tracking"] = tracking
    r["deploy"] = _deploy(conv)
    _custom_metrics(conv)
    _batch_scoring(conv)
    for key in project.profile_overrides:
        report.approximated(
            key,
            None,
            f"profile {project.profile_file.name} redefines recipe.yaml's top-level key "
            f"'{key}'; the profile's value was used",
            "MLflow Recipes itself refused duplicate keys",
        )
    conv.recipe = r
    return conv


def _split(conv: Conversion) -> dict:
    p, report = conv.project, conv.report
    split = p.step("split")
    strategy = "stratified" if p.task == "classification" else "random"
    out: dict[str, Any] = {"strategy": strategy, "test_size": 0.125, "seed": 42}
    if split.get("using") == "custom":
        report.unmapped(
            f"steps.split.split_method ({split.get('split_method', '?')})",
            "custom Python split function",
            "mlctl splits randomly, stratified, or by time (split.strategy: time with "
            f"split.time_column); a {strategy} split with test_size 0.125 was written",
        )
    else:
        ratios = split.get("split_ratios", [0.75, 0.125, 0.125])
        if (
            isinstance(ratios, list)
            and len(ratios) == 3
            and all(isinstance(x, int | float) and x > 0 for x in ratios)
        ):
            test = round(ratios[2] / sum(ratios), 4)
            out["test_size"] = test
            report.approximated(
                "steps.split.split_ratios",
                "split.test_size",
                f"{ratios} → test_size {test}; the validation share is folded into training, "
                "where cross-validation (models.cv_folds) takes its place",
                comment=f"steps.split.split_ratios {ratios}: validation folded into CV",
            )
        else:
            report.unmapped(
                "steps.split.split_ratios",
                f"{ratios!r} is not three positive numbers",
                "set split.test_size",
            )
    for key in ("post_split_filter_method", "post_split_method"):
        method = split.get(key)
        if not method:
            continue
        info = read_function(p.root, str(method), "split")
        if info.found and info.noop:
            report.mapped(
                f"steps.split.{key} ({info.name})",
                None,
                f"{info.where}: keeps every row (the template's placeholder): nothing to do",
            )
        else:
            report.unmapped(
                f"steps.split.{key} ({info.name})",
                f"custom Python row filter ({info.where})"
                + ("" if info.found else f": {info.problem}"),
                "mlctl does not run project code: filter the rows before mlctl reads the "
                "file, or drop columns with data.drop",
            )
    return out


def _transform(conv: Conversion) -> None:
    p, report = conv.project, conv.report
    method = p.step("transform").get("transformer_method")
    if not method:
        report.mapped(
            "steps.transform",
            "features",
            "no transformer_method: mlctl imputes, scales and one-hot encodes by column kind",
        )
        return
    info = read_function(p.root, str(method), "transform")
    if info.found and info.noop:
        report.approximated(
            f"steps.transform.transformer_method ({info.name})",
            "features",
            f"{info.where}: returns None (identity); mlctl still imputes, scales and "
            "one-hot encodes by column kind (features.*_transform)",
        )
        return
    report.unmapped(
        f"steps.transform.transformer_method ({info.name})",
        f"custom Python transformer ({info.where})" + ("" if info.found else f": {info.problem}"),
        "mlctl does not run project code; features use median impute + standard scale "
        "(numeric) and one-hot (categorical); port computed columns to features.derived "
        "expressions (docs/recipes.md#derived-feature-expressions)",
    )


def _primary_metric(conv: Conversion) -> str:
    p, report = conv.project, conv.report
    given = p.config.get("primary_metric")
    source = given or metrics.DEFAULT_PRIMARY[p.task]
    mapping = metrics.map_metric(str(source), p.task)
    fallback = "roc_auc" if p.task == "classification" else "rmse"
    if mapping.name is None:
        report.unmapped(
            f"primary_metric ({source})",
            "custom or unknown metric",
            f"models.selection_metric is {fallback}; mlctl metrics are listed in "
            "docs/recipes.md#metrics",
        )
        return fallback
    label = f"primary_metric ({source})" if given else "primary_metric (Recipes default)"
    if mapping.note:
        report.approximated(
            label,
            "models.selection_metric",
            f"{source} → {mapping.name}: {mapping.note}",
            comment=f"primary_metric: {source}",
        )
    else:
        report.mapped(
            label,
            "models.selection_metric",
            f"{source} → {mapping.name}",
            comment=f"primary_metric: {source}",
        )
    return mapping.name


def _readiness(conv: Conversion) -> dict:
    p, report = conv.project, conv.report
    criteria = p.step("evaluate").get("validation_criteria") or []
    thresholds: dict[str, float] = {}
    for i, crit in enumerate(criteria if isinstance(criteria, list) else []):
        src = f"steps.evaluate.validation_criteria.{i}"
        if not isinstance(crit, dict) or "metric" not in crit or "threshold" not in crit:
            report.unmapped(src, f"{crit!r} is not {{metric, threshold}}", "set it by hand")
            continue
        mapping = metrics.map_metric(str(crit["metric"]), p.task)
        if mapping.name is None:
            report.unmapped(
                f"{src} ({crit['metric']})",
                "custom or unknown metric: no mlctl threshold",
                "readiness.thresholds takes min_/max_ of mlctl metrics (docs/recipes.md#metrics)",
            )
            continue
        threshold = crit["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            report.unmapped(
                f"{src} ({crit['metric']})",
                f"threshold {threshold!r} is not a number",
                "set the readiness.thresholds entry by hand",
            )
            continue
        key = metrics.threshold_key(mapping)
        value = mapping.threshold(float(threshold))
        thresholds[key] = value
        text = f"{crit['metric']} {crit['threshold']} → {key}: {value}"
        if mapping.note:
            report.approximated(src, f"readiness.thresholds.{key}", f"{text} ({mapping.note})")
        else:
            report.mapped(src, f"readiness.thresholds.{key}", text)
        report.comments[f"readiness.thresholds.{key}"] = (
            f"validation_criteria: {crit['metric']} {crit['threshold']}"
        )
    return {"thresholds": thresholds}


def _tracking(conv: Conversion) -> dict:
    p, report = conv.project, conv.report
    experiment = p.config.get("experiment") or {}
    out: dict[str, Any] = {}
    if isinstance(experiment, dict):
        if experiment.get("name"):
            out["experiment"] = str(experiment["name"])
            report.mapped(
                "experiment.name",
                "tracking.experiment",
                str(experiment["name"]),
                comment=f"experiment.name (profile {p.profile})",
            )
        hints = {
            "tracking_uri": "set tracking.uri (or MLCTL_TRACKING_URI) to keep using that store",
            "artifact_location": "artifacts go under the workspace; --workspace or "
            "tracking.workspace moves it",
        }
        for key, hint in hints.items():
            if experiment.get(key):
                report.unmapped(
                    f"experiment.{key}",
                    f"{experiment[key]}: not carried over; mlctl keeps runs and artifacts in "
                    "its workspace (.mlctl/)",
                    hint,
                )
    return out


def _deploy(conv: Conversion) -> dict:
    p, report = conv.project, conv.report
    registry = p.config.get("model_registry") or {}
    out: dict[str, Any] = {}
    if isinstance(registry, dict) and registry.get("model_name"):
        out["model_name"] = str(registry["model_name"])
        report.mapped(
            "model_registry.model_name",
            "deploy.model_name",
            str(registry["model_name"]),
            comment=f"model_registry.model_name (profile {p.profile})",
        )
    else:
        report.mapped(
            "model_registry.model_name",
            "deploy.model_name",
            f"not set: the recipe name {conv.name}",
        )
    for key in ("registry_uri", "uri"):
        if isinstance(registry, dict) and registry.get(key):
            report.unmapped(
                f"model_registry.{key}",
                f"{registry[key]}: mlctl registers in the tracking store",
                "set tracking.uri to that server if tracking and registry are the same",
            )
    register = p.step("register")
    allow = bool(register.get("allow_non_validated_model", False))
    # Recipes batch-scored with the latest registered version: a model that passes
    # mlctl's gate becomes champion right away (what serve and predict use).
    out["auto_promote"] = True
    source = "steps.register.allow_non_validated_model"
    comment = f"{source}: {str(allow).lower()}; a model that passes the gate is served"
    if allow:
        report.approximated(
            source,
            "deploy.auto_promote",
            "true: mlctl registers only a model that passes the readiness gate; one that "
            "passes becomes champion (auto_promote: true)",
            "to register regardless, loosen or remove readiness.thresholds",
            comment=comment,
        )
    else:
        report.mapped(
            source,
            "deploy.auto_promote",
            "false: as in Recipes, only a model that passes the gate is registered; it "
            "becomes champion (auto_promote: true, as Recipes scored the latest version)",
            comment=comment,
        )
    return out


def _custom_metrics(conv: Conversion) -> None:
    for item in conv.project.config.get("custom_metrics") or []:
        name = item.get("name", "?") if isinstance(item, dict) else str(item)
        fn = item.get("function", "?") if isinstance(item, dict) else "?"
        conv.report.unmapped(
            f"custom_metrics ({name})",
            f"custom Python metric steps/custom_metrics.py:{fn}",
            "mlctl reports its built-in metrics only (docs/recipes.md#metrics)",
        )


def _batch_scoring(conv: Conversion) -> None:
    p = conv.project
    scoring = p.step("ingest_scoring")
    predict = p.step("predict")
    if not scoring and not predict:
        return
    output = predict.get("output") if isinstance(predict.get("output"), dict) else {}
    files = ("csv", "parquet")
    src_loc = scoring.get("location") if scoring.get("using") in files else None
    dest_loc = output.get("location") if output.get("using") in files else None
    src = _shown(p.root, src_loc, "SCORING_DATA.parquet")
    dest = _shown(p.root, dest_loc, "scores.parquet")
    conv.report.unmapped(
        "steps.ingest_scoring / steps.predict",
        "batch scoring is a command in mlctl, not a recipe step",
        f"mlctl predict {display(conv.out)} --input {src} --output {dest}",
    )


def _shown(root: Path, location: Any, default: str) -> str:
    """A project-relative location as a path from the current folder, for a command."""
    if not isinstance(location, str) or not location or "://" in location or ":" in location:
        return location if isinstance(location, str) and location else default
    return display(project_path(root, location))
