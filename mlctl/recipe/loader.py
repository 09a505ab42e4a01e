"""Load a recipe: safe YAML → Hydra compose (+ overrides) → typed schema → checks.

Hydra is imported here and nowhere else. Every failure becomes a
:class:`~mlctl.errors.RecipeError` that lists all issues found, each with its
key path and, where known, ``file:line``.
"""

from __future__ import annotations

import copy
import difflib
import re
import types
import typing
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mlctl.errors import Issue, RecipeError, UsageError
from mlctl.recipe.checks import Check, check_recipe
from mlctl.recipe.loaded import LoadedRecipe
from mlctl.recipe.schema import Recipe
from mlctl.recipe.yamlsafe import read_yaml
from mlctl.redact import remember_env_refs, remember_tree


def conf_dirs(recipe_path: Path) -> list[Path]:
    """Config-group folders searched for ``defaults:``, most specific first."""
    candidates = [
        recipe_path.parent / "conf",
        recipe_path.parent.parent / "conf",
        Path.cwd() / "conf",
    ]
    out: list[Path] = []
    for c in candidates:
        c = c.resolve()
        if c.is_dir() and c not in out:
            out.append(c)
    return out


def load_recipe(
    path: str | Path,
    overrides: list[str] | None = None,
    *,
    extra_checks: Sequence[Check] = (),
    data_first: bool = False,
) -> LoadedRecipe:
    """Compose and validate a recipe file with Hydra-style ``key=value`` overrides.

    Runs the recipe's own checks (:mod:`mlctl.recipe.checks`), then ``extra_checks``:
    a command that trains passes the training checks
    (:func:`mlctl.train.checks.load_training_recipe`); serving, scoring and
    monitoring a model already trained need none, and never import scikit-learn.

    ``data_first``: for a caller that reads the data next (``run``, ``validate``): when
    the only issues are :attr:`Issue.after_data` ones, they are kept in
    ``LoadedRecipe.pending`` and raised after the data's own checks.

    Raises:
        RecipeError: with every issue found.
    """
    overrides = list(overrides or [])
    recipe_path, locations = read_recipe_file(path)
    check_overrides(overrides)
    dirs = conf_dirs(recipe_path)
    composed, choices = _compose(recipe_path, dirs, overrides, locations)
    return from_composed(
        recipe_path, composed, choices, overrides, locations, extra_checks, data_first
    )


def read_recipe_file(path: str | Path) -> tuple[Path, dict[str, str]]:
    """The resolved path of a recipe file and the ``file:line`` of each key.

    Raises:
        RecipeError: the file is missing, not ``.yaml``, empty, not a mapping or bad YAML.
    """
    recipe_path = Path(path).expanduser()
    if not recipe_path.exists():
        raise RecipeError(
            [Issue("", f"recipe file not found: {recipe_path.absolute()}")],
            hint=_nearby_recipes(recipe_path),
        )
    if not recipe_path.is_file():
        raise RecipeError([Issue("", f"recipe path is not a file: {recipe_path}")])
    if recipe_path.suffix != ".yaml":
        raise RecipeError(
            [Issue("", f"recipe file must end in .yaml, got '{recipe_path.name}'")],
        )
    recipe_path = recipe_path.resolve()
    raw, locations = read_yaml(recipe_path)
    if raw is None:
        raise RecipeError([Issue("", "recipe file is empty", str(recipe_path))])
    if not isinstance(raw, dict):
        raise RecipeError(
            [
                Issue(
                    "",
                    f"a recipe must be a mapping of keys, got a {type(raw).__name__}",
                    f"{recipe_path}:1",
                )
            ]
        )
    return recipe_path, locations


def _nearby_recipes(missing: Path) -> str:
    """A hint for a recipe path that does not exist: the closest ``.yaml`` files in its
    folder (or in ``recipes/`` when the folder itself is missing)."""
    folder = missing.parent if missing.parent.is_dir() else Path("recipes")
    try:
        found = sorted(p for p in folder.glob("*.yaml") if p.is_file())
    except OSError:
        found = []
    if not found:
        return f"no .yaml file in {folder}/; write one with 'mlctl init DATA_FILE'"
    names = [p.name for p in found]
    close = difflib.get_close_matches(missing.stem, [p.stem for p in found], n=1, cutoff=0.6)
    if close:
        return f"did you mean '{folder / close[0]}.yaml'?"
    shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
    return f"recipes in {folder}/: {shown}"


def from_composed(
    recipe_path: Path,
    composed: dict[str, Any],
    choices: dict[str, str],
    overrides: list[str],
    locations: dict[str, str] | None = None,
    extra_checks: Sequence[Check] = (),
    data_first: bool = False,
) -> LoadedRecipe:
    """Validate a recipe Hydra has already composed (e.g. one job of a sweep); see
    :func:`load_recipe` for ``extra_checks``.

    Raises:
        RecipeError: with every issue found.
    """
    if locations is None:
        _, locations = read_recipe_file(recipe_path)
    dirs = conf_dirs(recipe_path)
    # Schema order reads better than Hydra's (defaults first) in `mlctl show`.
    order = {name: i for i, name in enumerate(Recipe.model_fields)}
    composed = dict(sorted(composed.items(), key=lambda kv: order.get(kv[0], len(order))))
    remember_tree(composed)
    for group, option in choices.items():
        locations = _group_locations(dirs, group, option) | locations
    for override in overrides:
        key = override.partition("=")[0].lstrip("+~")
        locations[key] = f"command-line override '{override}'"

    try:
        recipe = validate(composed, locations)
    except RecipeError as schema:
        # Report the cross-field problems too, checked with the bad keys at their
        # defaults, so that one wrong value does not hide another.
        more = _other_issues(schema.issues, composed, recipe_path, locations, extra_checks)
        raise RecipeError(schema.issues + more) from None
    loaded = LoadedRecipe(recipe, recipe_path, composed, list(overrides), locations, choices)
    issues = check_recipe(loaded, extra_checks)
    if data_first and issues and all(i.after_data for i in issues):
        loaded.pending = issues
    elif issues:
        raise RecipeError(issues)
    return loaded


def _other_issues(
    schema: list[Issue],
    composed: dict[str, Any],
    recipe_path: Path,
    locations: dict[str, str],
    extra_checks: Sequence[Check],
) -> list[Issue]:
    """The cross-field issues of ``composed`` with every key the schema refused left
    at its default; none when that is not a valid recipe either (a required key)."""

    bad = [issue.path for issue in schema if issue.path]
    # A misspelt key leaves the key it was meant to be empty: not a second problem.
    meant = [
        ".".join([*i.path.split(".")[:-1], m.group(1)])
        for i in schema
        if (m := re.match(r"unknown key; did you mean '([^']+)'", i.message))
    ]
    repaired = copy.deepcopy(composed)
    for path in bad:
        _drop(repaired, path.split("."))
    try:
        recipe = Recipe.model_validate(repaired)
    except ValidationError:
        return []
    loaded = LoadedRecipe(recipe, recipe_path, repaired, [], locations, {})
    try:
        found = check_recipe(loaded, extra_checks)
    except Exception:  # a check may assume what the schema refused; report the schema
        return []
    return [i for i in found if not any(_related(i.path, b) for b in bad + meant)]


def _drop(tree: dict[str, Any], parts: list[str]) -> None:
    """Remove the key at ``parts`` (the whole list when a part is a list index)."""
    node: Any = tree
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            return
        if i == len(parts) - 1 or not isinstance(node[part], dict):
            del node[part]
            return
        node = node[part]


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _group_locations(dirs: list[Path], group: str, option: str) -> dict[str, str]:
    for d in dirs:
        f = d / group / f"{option}.yaml"
        if f.is_file():
            _, lines = read_yaml(f)
            prefix = group.replace("/", ".")
            return {f"{prefix}.{k}": v for k, v in lines.items()} | {prefix: f"{f}:1"}
    return {}


def check_overrides(overrides: list[str]) -> None:
    """Refuse command-line overrides that do not parse, naming each one.

    Raises:
        UsageError: for the first override Hydra's grammar rejects.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_overrides([override])
        except HydraException as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "does not parse"
            raise UsageError(
                f"override '{override}' does not parse: {first}",
                hint="overrides look like key=value, e.g. split.seed=7 or models=fast",
            ) from None


def _compose(
    recipe_path: Path, dirs: list[Path], overrides: list[str], locations: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    overrides = hydra_overrides(dirs, overrides)
    GlobalHydra.instance().clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with initialize_config_dir(config_dir=str(recipe_path.parent), version_base="1.3"):
                cfg = compose(
                    config_name=recipe_path.stem,
                    overrides=overrides,
                    return_hydra_config=True,
                )
        choices = {
            k: str(v)
            for k, v in OmegaConf.to_container(cfg.hydra.runtime.choices).items()
            if not k.startswith("hydra/") and v is not None
        }
        container = OmegaConf.to_container(cfg, resolve=False)
        container.pop("hydra", None)
        remember_env_refs(container)
        resolved = OmegaConf.to_container(OmegaConf.create(container), resolve=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise RecipeError([_hydra_issue(exc, recipe_path, locations)]) from None
    finally:
        GlobalHydra.instance().clear()
    return resolved, choices


def hydra_overrides(dirs: list[Path], overrides: list[str]) -> list[str]:
    """The overrides Hydra is given: the config-group search path, then the user's,
    with schema keys made ``++`` (see :func:`_schema_override`)."""
    # Always set: a recipe's own hydra.searchpath could name pkg://some_module, which
    # Hydra would import while composing (even for `mlctl validate`).
    search = ",".join(f"file://{d}" for d in dirs)
    return [f"hydra.searchpath=[{search}]"] + [_schema_override(o, dirs) for o in overrides]


def _schema_override(override: str, dirs: list[Path]) -> str:
    """``key=value`` for a schema key the YAML leaves at its default becomes ``++key=value``.

    Hydra only lets plain overrides change keys the composed YAML already has;
    schema defaults (e.g. ``tuning.n_iter``) must still be overridable. Config
    group choices (``models=fast``) and explicit ``+``/``~`` forms are untouched.
    """
    key, sep, value = override.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*", key):
        return override
    if "." not in key and any((d / key).is_dir() for d in dirs):
        return override
    return f"++{key}={value}" if _schema_has(key) else override


def _schema_has(key: str) -> bool:
    """Whether a dotted key path names a field of the schema (free-form dicts accept any key)."""
    current: Any = Recipe
    for part in key.split("."):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return current is dict
        info = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        if info is None:
            return False
        inner, is_dict = _unwrap(info.annotation)
        current = dict if is_dict or typing.get_origin(info.annotation) is dict else inner
    return True


def _hydra_issue(exc: Exception, recipe_path: Path, locations: dict[str, str]) -> Issue:
    if not str(exc).strip() and exc.__cause__ is not None:
        exc = exc.__cause__  # Hydra wraps OmegaConf's error in an empty exception
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    key = getattr(exc, "full_key", "") or ""
    env = re.search(r"Environment variable '([^']+)' not found", text)
    if env:
        return Issue(
            str(key),
            f"environment variable '{env.group(1)}' is not set",
            locations.get(str(key), str(recipe_path)),
            hint="set it, or give a default: ${oc.env:NAME,default}",
        )
    if "Could not override" in first:
        # "Could not override 'modls'." – suggest the nearest existing key.
        name = first.split("'")[1] if "'" in first else ""
        return Issue(name, f"override of an unknown key; {_close_hint(name, recipe_path)}")
    if "Interpolation" in type(exc).__name__ or "interpolation" in first.lower():
        return Issue(
            str(key),
            f"cannot resolve interpolation: {first}",
            locations.get(str(key), str(recipe_path)),
        )
    if "Could not find" in first or "In 'hydra/config'" in first:
        options = re.search(r"Available options in '([^']+)':\s*\n((?:\s+\S+\n?)+)", text)
        message = first.replace("\n", " ")
        if options:
            message += f"; options for {options.group(1)}: {', '.join(options.group(2).split())}"
        return Issue("defaults", message, str(recipe_path))
    return Issue(str(key), first, str(recipe_path))


def _close_hint(name: str, recipe_path: Path) -> str:
    head, _, last = name.rpartition(".")
    model = _model_at(tuple(head.split(".")) if head else ())
    options = list(model.model_fields) if model else []
    close = difflib.get_close_matches(last, options, n=1)
    add = f"; to add a new key use +{name}=..."
    if close:
        full = f"{head}.{close[0]}" if head else close[0]
        return f"did you mean '{full}'?{add}"
    return f"valid keys here: {', '.join(options)}{add}" if options else add.lstrip("; ")


def validate(composed: dict[str, Any], locations: dict[str, str] | None = None) -> Recipe:
    """Check a composed recipe against the schema; all errors are collected."""
    locations = locations or {}
    try:
        return Recipe.model_validate(composed)
    except ValidationError as exc:
        issues = [_issue_from_pydantic(e, locations) for e in exc.errors()]
        raise RecipeError(sorted(_drop_union_noise(set(issues)), key=lambda i: i.path)) from None


def _drop_union_noise(issues: set[Issue]) -> list[Issue]:
    """For a value that may be a list or a mapping (a search space), pydantic reports
    both alternatives; keep the specific error inside the mapping, not "not a list"."""
    deeper = {i.path.rpartition(".")[0] for i in issues}
    return [
        i
        for i in issues
        if not (i.path in deeper and i.message.startswith("input should be a valid list"))
    ]


def _issue_from_pydantic(err: dict[str, Any], locations: dict[str, str]) -> Issue:
    loc = tuple(str(p) for p in err["loc"])
    # Union members add their type name to the location; drop those parts.
    # (Never the first part: a top-level key may be called "dict" or "str".)
    loc = loc[:1] + tuple(p for p in loc[1:] if not _is_type_tag(p))
    path = ".".join(loc)
    where = _nearest(locations, loc)
    kind = err["type"]
    found = err.get("input")
    if kind == "extra_forbidden" and loc:
        model = _model_at(loc[:-1])
        options = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(loc[-1], options, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(options)}"
        return Issue(path, f"unknown key; {hint}", where)
    if kind == "missing":
        return Issue(path, "required key is missing", where)
    msg = err["msg"]
    msg = msg[0].lower() + msg[1:] if msg else msg
    return Issue(path, f"{msg}; got {_show(found)}", where)


def _is_type_tag(part: str) -> bool:
    return part in {"str", "int", "float", "bool", "list", "dict", "mapping", "Distribution"} or (
        part.startswith(("list[", "dict[", "function-", "constrained-"))
    )


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _nearest(locations: dict[str, str], loc: tuple[str, ...]) -> str | None:
    parts = list(loc)
    while parts:
        hit = locations.get(".".join(parts))
        if hit:
            return hit
        parts.pop()
    return None


def _model_at(loc: tuple[str, ...]) -> type[BaseModel] | None:
    """The schema class that describes the mapping at a key path."""
    current: Any = Recipe
    skip_key = False
    for part in loc:
        if skip_key:
            skip_key = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        if info is None:
            return None
        current, skip_key = _unwrap(info.annotation)
    if skip_key:
        return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner model class, whether a dict key comes next) of an annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                inner, skip = _unwrap(arg)
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    return inner, skip
        return None, False
    if origin is dict:
        inner, _ = _unwrap(typing.get_args(annotation)[1])
        return inner, True
    return annotation, False
