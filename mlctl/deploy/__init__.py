"""``mlctl deploy``: deployment files for a recipe's model (docs/deployment.md).

:func:`plan_deploy` resolves the served version in the registry and returns a
:class:`Plan` (the files' contents, warnings, next steps); :func:`write_plan` writes it,
refusing to replace existing files unless asked to.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlctl.deploy.plan import (
    ENV_REF,
    URL_WITH_PASSWORD,
    WORKSPACE_DIR,
    Bake,
    Facts,
    GeneratedFile,
    Plan,
)
from mlctl.errors import Issue, RecipeError, RegistryError, UsageError

TARGETS = ("docker", "k8s", "github-actions")
DEFAULT_OUT = {"docker": "deploy", "k8s": "deploy/k8s", "github-actions": "."}
BAKE_DIR = "bake/workspace"


@dataclass
class DeployOptions:
    """The command line of ``mlctl deploy``; None means: the recipe's setting."""

    target: str
    out: str | None = None
    workspace: str | None = None
    reference: str | None = None  # --model NAME@ALIAS or NAME/VERSION
    bake: bool | None = None  # None: bake an embedded workspace, not a tracking server
    context: str | None = None  # the build context; default the current folder
    image: str | None = None  # --image NAME (deploy.image.name)
    registry: str | None = None  # --registry (deploy.image.registry)
    mlctl_requirement: str | None = None  # deploy.image.mlctl_requirement
    replicas: int | None = None
    namespace: str | None = None
    schedule: str | None = None


def check_target(target: str) -> str:
    """Raises: UsageError naming the valid targets."""
    if target not in TARGETS:
        import difflib

        near = difflib.get_close_matches(target, TARGETS, n=1)
        raise UsageError(
            f"unknown deploy target '{target}'; valid targets: {', '.join(TARGETS)}",
            hint=f"did you mean '{near[0]}'?" if near else None,
        )
    return target


@dataclass(frozen=True)
class Served:
    """The registered version a deployment serves."""

    name: str
    version: int | None  # None: not resolved (github-actions)
    alias: str
    pinned: bool = False  # serve the version itself, not the alias


def plan_deploy(loaded: Any, options: DeployOptions) -> Plan:
    """The files ``options.target`` generates for a loaded recipe.

    Raises:
        UsageError: unknown target, a build context that does not hold the recipe or
            the output folder (when baking), ``--bake`` without an embedded workspace.
        RecipeError: the recipe file writes a password into a URL, or an option is invalid.
        RegistryError: the model, or its version under the served alias, is not
            registered (the message lists the versions that exist); the baked version's
            model files are missing or do not match their recorded SHA-256 (at writing).
        TrackingError: the registry cannot be reached.
    """
    target = check_target(options.target)
    if options.bake and target == "github-actions":
        raise UsageError("--bake is for --target docker or k8s (the workflow bakes in CI)")
    recipe = _with_options(loaded, options)
    served, bake, notes = Served(recipe.model_name, None, recipe.deploy.serve.alias), None, []
    server = None
    if target != "github-actions":
        served, ws = _resolve(loaded, recipe, options)
        baking, notes = _bake_choice(ws, options.bake)
        if baking:  # k8s: only checked; the docker target writes the registry
            from mlctl.deploy.bake import check_bakeable

            database = check_bakeable(ws.root, ws.database, ws.tracking_uri)
            if target == "docker" and served.version is not None:
                bake = Bake(ws.root, database, BAKE_DIR, served.name, served.version)
        options = replace(options, bake=baking)
        server = ws.tracking_uri if ws.database is None else None
    facts = facts_for(loaded, options, served, recipe)
    facts.tracking_uri = server  # an MLCTL_TRACKING_URI server reaches the containers too
    plan = generate(facts, target, bake)
    plan.notes = notes
    return plan


def _bake_choice(ws: Any, asked: bool | None) -> tuple[bool, list[str]]:
    """Whether the served version is baked into the image, and why not when the
    default decides against it: a tracking server is read, never baked."""
    if asked is not None:
        return asked, []
    if ws.database is not None:
        return True, []
    from mlctl.deploy.plan import has_password

    where = "a tracking server" if has_password(ws.tracking_uri) else ws.tracking_uri
    return False, [
        f"the model is not baked into the image: the registry is {where}, which the "
        "containers read through MLCTL_TRACKING_URI (--bake only copies an embedded "
        "SQLite workspace)"
    ]


def facts_for(loaded: Any, options: DeployOptions, served: Served, recipe: Any = None) -> Facts:
    """What the generators need, checked (no registry access).

    Raises:
        UsageError, RecipeError: as :func:`plan_deploy`.
    """
    target = check_target(options.target)
    recipe = recipe or _with_options(loaded, options)
    context = Path(options.context or os.getcwd()).resolve()
    out = Path(options.out or DEFAULT_OUT[target])
    out = (out if out.is_absolute() else Path.cwd() / out).resolve()
    recipe_path = Path(loaded.path).resolve()
    _inside(recipe_path, context, "the recipe")
    recipe_text = recipe_path.read_text()
    _no_passwords(recipe_text, recipe_path)
    for override in loaded.overrides:
        if URL_WITH_PASSWORD.search(override):
            raise UsageError(
                f"override '{override.split('=', 1)[0]}=...' holds a URL with a password, "
                "which the generated files would copy",
                hint="write it in the recipe as ${oc.env:NAME} and set NAME where it runs",
            )
    if options.bake and target == "docker":
        _inside(
            out,
            context,
            "--out (the baked registry is copied from it into the image)",
            hint="run mlctl deploy from the project folder, pass --context, or pass --no-bake",
        )
    if recipe.deploy.image.mlctl_requirement == "." and target != "k8s":
        _mlctl_checkout(context)
    image_repo = recipe.deploy.image.name or served.name.lower()
    if not recipe.deploy.image.name:
        try:  # the model name, lower-cased, may still not be an image name
            type(recipe.deploy.image)(name=image_repo)
        except ValueError:
            raise UsageError(
                f"the model name '{served.name}' is not an image name",
                hint="set deploy.image.name or pass --image",
            ) from None
    facts = Facts(
        recipe=recipe,
        recipe_path=recipe_path,
        recipe_text=recipe_text,
        context=context,
        out=out,
        overrides=list(loaded.overrides),
        model_name=served.name,
        version=served.version,
        alias=served.alias,
        pinned=served.pinned,
        image_repo=image_repo,
        registry=recipe.deploy.image.registry,
        env_refs=[],
        bake=bool(options.bake),
    )
    # The containers resolve these: the recipe file's, and those of the overrides they get.
    refs = ENV_REF.findall(recipe_text)
    for override in facts.runtime_overrides():
        refs += ENV_REF.findall(override)
    facts.env_refs = sorted(set(refs))
    return facts


def generate(facts: Facts, target: str, bake: Bake | None = None) -> Plan:
    """The plan of one target (pure: nothing is read or written)."""
    warnings: list[str] = []
    if target == "docker":
        from mlctl.deploy import docker

        files, warnings, steps = docker.generate(facts, bake.dest if bake else None)
    elif target == "k8s":
        from mlctl.deploy import k8s

        files, warnings, steps = k8s.generate(facts, facts.recipe_text)
        if not facts.registry:
            warnings.append(
                f"the image {facts.image} has no registry (deploy.image.registry): the "
                "cluster's nodes must already have it"
            )
        steps.insert(0, _build_hint(facts, facts.bake))
    else:
        from mlctl.deploy import github

        files, steps = github.generate(facts)
    model = None
    if target != "github-actions":
        model = {"name": facts.model_name, "version": facts.version, "alias": facts.alias}
    return Plan(
        target,
        facts.out,
        files,
        model=model,
        image=facts.image if target != "github-actions" else None,
        bake=bake,
        warnings=warnings,
        next_steps=steps,
    )


def write_plan(plan: Plan, force: bool = False) -> list[Path]:
    """Write a plan's baked registry and files; returns what was written.

    Raises:
        UsageError: some files exist and ``force`` is not set (the message names them).
        RegistryError: the served version cannot be baked (nothing is written then).
    """
    _check_paths(plan)
    existing = [p for p in plan.paths() if p.exists()]
    if existing and not force:
        shown = ", ".join(_shown(p) for p in existing[:6]) + (" ..." if len(existing) > 6 else "")
        raise UsageError(
            f"{len(existing)} file(s) already exist: {shown}",
            hint="pass --overwrite to replace them, or choose another --out",
        )
    written = []
    if plan.bake:  # first: a version that cannot be baked leaves no files behind
        from mlctl.deploy.bake import bake

        b = plan.bake
        dest = plan.out / b.dest
        b.bytes = bake(b.source, b.database, dest, WORKSPACE_DIR, b.name, b.version)
        written.append(dest)
    for f in plan.files:
        path = plan.out / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f.content)
        written.append(path)
    return written


def _check_paths(plan: Plan) -> None:
    """Before anything is written: every file's folder can be a folder, and no file
    would replace a folder (not even with ``force``).

    Raises:
        UsageError: naming the path in the way.
    """
    bake = plan.out / plan.bake.dest if plan.bake else None
    for folder in [plan.out, *plan.out.parents]:
        if folder.exists() and not folder.is_dir():
            raise UsageError(
                f"--out ({_shown(plan.out)}): {_shown(folder)} is a file, not a folder",
                hint="choose another --out",
            )
    for path in plan.paths():
        for parent in path.relative_to(plan.out).parents:
            folder = plan.out / parent
            if folder != plan.out and folder.exists() and not folder.is_dir():
                raise UsageError(
                    f"{_shown(folder)} is a file; mlctl deploy writes a folder there",
                    hint="remove or rename it, or choose another --out",
                )
        if path.exists() and path.is_dir() != (path == bake):
            kind = "a file" if path.is_dir() else "a folder"
            raise UsageError(
                f"{_shown(path)} is {'a folder' if path.is_dir() else 'a file'}; "
                f"mlctl deploy writes {kind} there",
                hint="remove or rename it, or choose another --out",
            )


def _with_options(loaded: Any, options: DeployOptions) -> Any:
    """The recipe with the command-line settings applied (validated like the recipe).

    Raises:
        RecipeError: a setting is invalid, named by its key path.
    """
    from pydantic import ValidationError

    recipe = loaded.recipe
    changes = {
        ("deploy", "image", "name"): options.image,
        ("deploy", "image", "registry"): options.registry,
        ("deploy", "image", "mlctl_requirement"): options.mlctl_requirement,
        ("deploy", "k8s", "replicas"): options.replicas,
        ("deploy", "k8s", "namespace"): options.namespace,
        ("monitor", "schedule"): options.schedule,
    }
    sections = {"deploy": recipe.deploy, "monitor": recipe.monitor}
    update, issues = {}, []
    for section, model in sections.items():
        data = model.model_dump(by_alias=True)
        for (where, *keys), value in changes.items():
            if where == section and value is not None:
                node = data
                for key in keys[:-1]:
                    node = node[key]
                node[keys[-1]] = value
        try:
            update[section] = type(model).model_validate(data, strict=False)
        except ValidationError as exc:
            issues += [
                Issue(
                    ".".join([section, *map(str, e["loc"])]),
                    e["msg"].removeprefix("Value error, "),
                )
                for e in exc.errors()
            ]
    if issues:
        raise RecipeError(issues)
    return recipe.model_copy(update=update)


def _resolve(loaded: Any, recipe: Any, options: DeployOptions) -> tuple[Served, Any]:
    """The version the deployment serves, and the workspace."""
    from mlctl.tracking.registry import Registry, parse_reference
    from mlctl.tracking.workspace import for_recipe, open_existing

    ws = for_recipe(loaded, options.workspace)
    open_existing(ws)
    registry = Registry(ws)
    name, alias = recipe.model_name, recipe.deploy.serve.alias
    if options.reference:
        name, selector = parse_reference(options.reference)
        if selector.isdigit():
            info = registry.version(name, selector)
            return Served(name, info.version, alias, pinned=True), ws
        alias = selector
    versions = registry.versions(name)  # an unknown model: names the models that exist
    for v in versions:
        if alias in v.aliases:
            return Served(name, v.version, alias), ws
    if versions:
        listed = ", ".join(
            f"{v.version}" + (f" ({', '.join(v.aliases)})" if v.aliases else "") for v in versions
        )
        raise RegistryError(
            f"model '{name}' has no version under alias '{alias}'; versions: {listed}",
            hint=f"promote one (mlctl models promote {name} {versions[0].version}) or pass "
            f"--model {name}/{versions[0].version}",
        )
    raise RegistryError(
        f"model '{name}' has no versions",
        hint=f"train and register one: mlctl run {loaded.path} --promote --yes",
    )


def _inside(path: Path, context: Path, what: str, hint: str | None = None) -> None:
    if not path.is_relative_to(context):
        raise UsageError(
            f"{what} ({path}) is outside the build context {context}",
            hint=hint or "run mlctl deploy from the project folder, or pass --context",
        )


def _mlctl_checkout(context: Path) -> None:
    pyproject = context / "pyproject.toml"
    if not (pyproject.exists() and 'name = "mlctl"' in pyproject.read_text()):
        raise UsageError(
            f"deploy.image.mlctl_requirement is '.', but the build context {context} is not "
            "an mlctl checkout (no pyproject.toml of mlctl)",
            hint="set deploy.image.mlctl_requirement to a pip requirement for mlctl, or "
            "pass --context with the mlctl checkout",
        )


def _no_passwords(text: str, path: Path) -> None:
    """Generated files copy the recipe (ConfigMap, image): no password may be in it."""
    for number, line in enumerate(text.splitlines(), 1):
        if URL_WITH_PASSWORD.search(line.split("#", 1)[0]):
            raise RecipeError(
                [
                    Issue(
                        "",
                        "a URL with a password; deployment files copy the recipe, so "
                        "secrets must come from the environment",
                        location=f"{path}:{number}",
                        hint="write the URL as ${oc.env:NAME} and set NAME where it runs",
                    )
                ]
            )


def _build_hint(facts: Facts, baked: bool) -> str:
    """The docker target's command and the build that make the image the objects use."""
    import shlex

    recipe = facts.recipe_path.relative_to(facts.context).as_posix()
    args = [recipe, *facts.overrides, "--target", "docker"]
    if facts.registry:
        args += ["--registry", facts.registry]
    requirement = facts.recipe.deploy.image.mlctl_requirement
    if requirement != ".":  # the docker target checks it: '.' needs an mlctl checkout
        args += ["--mlctl-requirement", requirement]
    if not baked:
        args.append("--no-bake")
    return (
        f"mlctl deploy {shlex.join(args)} && docker build -f deploy/Dockerfile -t {facts.image} ."
        + (f" && docker push {facts.image}" if facts.registry else "")
    )


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


__all__ = [
    "DEFAULT_OUT",
    "TARGETS",
    "DeployOptions",
    "GeneratedFile",
    "Plan",
    "Served",
    "check_target",
    "facts_for",
    "generate",
    "plan_deploy",
    "write_plan",
]
