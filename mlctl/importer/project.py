"""Read an MLflow Recipes project: ``recipe.yaml`` rendered with a ``profiles/<name>.yaml``.

MLflow Recipes (MLflow 2.x, removed in 3.0) rendered ``recipe.yaml`` as a Jinja2
template whose variables come from the profile, then merged the profile's
top-level keys (``experiment``, ``model_registry`` ...) into the result. This
module does the same, in a sandboxed Jinja environment with strict undefined
variables, and never imports the project's Python code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlctl.errors import Issue, RecipeError
from mlctl.recipe.yamlsafe import parse_yaml

TEMPLATES = {"classification/v1": "classification", "regression/v1": "regression"}
EXPECTED = (
    "an MLflow Recipes project: a recipe.yaml with `recipe: classification/v1` or "
    "`recipe: regression/v1` (older projects: `template:`), a `target_col`, a `steps:` "
    "section and a profiles/ folder"
)


@dataclass
class RecipesProject:
    """A rendered MLflow Recipes project."""

    root: Path
    recipe_file: Path
    profile: str
    profile_file: Path
    config: dict[str, Any]
    task: str
    template: str
    profile_overrides: list[str] = field(default_factory=list)

    @property
    def steps(self) -> dict[str, Any]:
        steps = self.config.get("steps") or {}
        return steps if isinstance(steps, dict) else {}

    def step(self, name: str) -> dict[str, Any]:
        value = self.steps.get(name) or {}
        return value if isinstance(value, dict) else {}


def locate(path: str | Path) -> Path:
    """The ``recipe.yaml`` a path names (the file itself, or a project folder).

    Raises:
        RecipeError: nothing there, or a folder without a recipe.yaml.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        candidate = p / "recipe.yaml"
        if not candidate.is_file():
            raise RecipeError([Issue("", f"{p} has no recipe.yaml; expected {EXPECTED}", str(p))])
        return candidate.resolve()
    if not p.is_file():
        raise RecipeError([Issue("", f"file not found: {p}; expected {EXPECTED}")])
    return p.resolve()


def load_project(path: str | Path, profile: str = "local") -> RecipesProject:
    """Render and read a Recipes project with one of its profiles.

    Raises:
        RecipeError: not a Recipes project, an unknown profile, a template variable the
            profile does not define, or invalid YAML.
    """
    recipe_file = locate(path)
    root = recipe_file.parent
    raw = _read_text(recipe_file)
    _looks_like_recipes(raw, recipe_file)
    profile_file = root / "profiles" / f"{profile}.yaml"
    if not profile_file.is_file():
        known = sorted(p.stem for p in (root / "profiles").glob("*.yaml"))
        listed = ", ".join(known) if known else "none (no profiles/*.yaml)"
        raise RecipeError(
            [
                Issue(
                    "--profile",
                    f"profile '{profile}' not found: no {profile_file}; profiles here: {listed}",
                )
            ]
        )
    env = _environment(root)
    context_text = _render(env, _read_text(profile_file), {}, profile_file)
    context, _ = parse_yaml(context_text, profile_file)
    context = context or {}
    if not isinstance(context, dict):
        raise RecipeError(
            [Issue("", "a profile must be a YAML mapping of variables", str(profile_file))]
        )
    rendered = _render(env, raw, context, recipe_file, profile_file)
    config, _ = parse_yaml(rendered, recipe_file)
    if not isinstance(config, dict):
        raise RecipeError([Issue("", f"not a YAML mapping; expected {EXPECTED}", str(recipe_file))])
    template = config.get("recipe", config.get("template"))
    if not isinstance(template, str) or template not in TEMPLATES:
        found = "no `recipe:` key" if template is None else f"`recipe: {template}`"
        raise RecipeError(
            [
                Issue(
                    "recipe",
                    f"found {found}; expected `recipe: classification/v1` or "
                    f"`recipe: regression/v1` ({EXPECTED})",
                    str(recipe_file),
                )
            ]
        )
    if not config.get("target_col"):
        raise RecipeError(
            [
                Issue(
                    "target_col",
                    "missing or empty: MLflow Recipes needs the name of the column to predict",
                    str(recipe_file),
                    hint="set target_col in recipe.yaml (the template marks it FIXME::REQUIRED)",
                )
            ]
        )
    # MLflow merged the profile's top-level keys into the rendered recipe (it refused
    # duplicates); a duplicate here wins and is reported, so nothing is silently lost.
    overrides = sorted(k for k in context if k in config and context[k] != config[k])
    merged = {**config, **context}
    return RecipesProject(
        root=root,
        recipe_file=recipe_file,
        profile=profile,
        profile_file=profile_file,
        config=merged,
        task=TEMPLATES[template],
        template=template,
        profile_overrides=overrides,
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError([Issue("", f"cannot read {path}: {exc}")]) from None


def _looks_like_recipes(text: str, path: Path) -> None:
    """Refuse early, before rendering, a file that is plainly not a Recipes project
    (an mlctl recipe, some other YAML), so the message says what was expected."""
    markers = ("recipe:", "template:")
    if not any(line.lstrip().startswith(markers) for line in text.splitlines()):
        raise RecipeError(
            [Issue("recipe", f"found no `recipe:` key; expected {EXPECTED}", str(path))],
            hint="mlctl recipes are run directly (mlctl run); import-recipe reads "
            "MLflow Recipes projects",
        )


def _environment(root: Path):
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    # The same settings MLflow Recipes used: `#` starts a line comment, undefined is an
    # error; sandboxed so a template cannot reach Python objects.
    env = SandboxedEnvironment(
        undefined=StrictUndefined, line_comment_prefix="#", keep_trailing_newline=True
    )

    def from_json(name: str) -> Any:
        target = (root / name).resolve()
        if not target.is_relative_to(root.resolve()):
            raise RecipeError(
                [Issue("", f"from_json: {name} is outside the project folder {root}")]
            )
        try:
            return json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RecipeError([Issue("", f"from_json: cannot read {target}: {exc}")]) from None

    env.filters["from_json"] = from_json
    return env


def _render(env, text: str, context: dict, path: Path, profile: Path | None = None) -> str:
    from jinja2 import TemplateError, UndefinedError

    try:
        return env.from_string(text).render(context)
    except UndefinedError as exc:
        where = f"; the profile {profile} does not define it" if profile else ""
        raise RecipeError(
            [Issue("", f"template variable: {exc.message}{where}", str(path))],
            hint="add the variable to the profile, or choose another one with --profile",
        ) from None
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f"{path}:{line}" if line else str(path)
        raise RecipeError([Issue("", f"cannot render the template: {exc}", where)]) from None
