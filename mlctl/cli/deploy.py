"""``mlctl deploy``: Dockerfile + compose, Kubernetes objects, or a CI workflow."""

from __future__ import annotations

import json

import click

from mlctl.cli.common import (
    AliasedOption,
    console,
    escape,
    handle_errors,
    json_option,
    overrides_argument,
    overwrite_option,
    quiet_option,
    recipe_argument,
    trust_option,
    workspace_option,
)

TARGETS = ("docker", "k8s", "github-actions")  # checked against mlctl.deploy.TARGETS in tests

EPILOG = """\b
Examples:
  mlctl deploy recipes/churn.yaml --target docker --out deploy/          # the model in the image
  mlctl deploy recipes/churn.yaml --target docker --no-bake              # no model: a registry volume
  mlctl deploy recipes/churn.yaml --target k8s --out deploy/k8s/ --registry ghcr.io/acme
  mlctl deploy recipes/churn.yaml --target github-actions                # .github/workflows/

Exit codes: 0 written, 2 bad usage (unknown target, files exist without --overwrite),
4 bad recipe or model not registered, 5 tracking unavailable, 1 other error,
130 interrupted (docs/deployment.md)."""


def _target(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value not in TARGETS:
        import difflib

        near = difflib.get_close_matches(value, TARGETS, n=1)
        raise click.BadParameter(
            f"unknown target '{value}'; valid targets: {', '.join(TARGETS)}"
            + (f" (did you mean '{near[0]}'?)" if near else "")
        )
    return value


@click.command("deploy", epilog=EPILOG)
@recipe_argument
@overrides_argument
@click.option(
    "--target",
    "-t",  # before -t meant --target here too; it now means init's target column only
    cls=AliasedOption,
    hidden_aliases=("-t",),
    required=True,
    callback=_target,
    metavar="TARGET",
    help=f"What to generate: {', '.join(TARGETS)}.",
)
@click.option(
    "--out",
    metavar="DIR",
    help="Output folder (default: deploy/, deploy/k8s/, or . for github-actions).",
)
@click.option(
    "--model",
    "reference",
    metavar="REF",
    help="NAME@ALIAS or NAME/VERSION (pinned) instead of deploy.serve.alias.",
)
@click.option(
    "--bake/--no-bake",
    default=None,
    help="Bake the served version (its registry entry, model files and reference "
    "profile, nothing else) into the image: the default with an embedded workspace. "
    "--no-bake: the containers read a registry through MLCTL_TRACKING_URI or the "
    "workspace volume, the default with a tracking server.",
)
@click.option("--image", metavar="NAME", help="Image name (deploy.image.name).")
@click.option("--registry", metavar="HOST/NS", help="Image registry (deploy.image.registry).")
@click.option(
    "--mlctl-requirement",
    metavar="REQ",
    help="What the image pip-installs mlctl from (deploy.image.mlctl_requirement).",
)
@click.option("--replicas", type=click.IntRange(1, 1000), help="k8s: API pods.")
@click.option("--namespace", metavar="NS", help="k8s: namespace (deploy.k8s.namespace).")
@click.option("--schedule", metavar="CRON", help="Monitor schedule (monitor.schedule).")
@click.option(
    "--context",
    type=click.Path(file_okay=False, exists=True),
    help="Docker build context (default: the current folder).",
)
@overwrite_option("Replace files that exist.")
@workspace_option
@json_option
@quiet_option("Print only the paths written.")
@trust_option
@handle_errors
def deploy(
    recipe,
    overrides,
    target,
    out,
    reference,
    bake,
    image,
    registry,
    mlctl_requirement,
    replicas,
    namespace,
    schedule,
    context,
    overwrite,
    workspace,
    as_json,
    quiet,
) -> None:
    """Generate deployment files for a RECIPE's registered model (docs/deployment.md)."""
    from mlctl.deploy import DeployOptions, plan_deploy, write_plan
    from mlctl.train.checks import load_training_recipe

    loaded = load_training_recipe(recipe, list(overrides))
    options = DeployOptions(
        target=target,
        out=out,
        workspace=workspace,
        reference=reference,
        bake=bake,
        context=context,
        image=image,
        registry=registry,
        mlctl_requirement=mlctl_requirement,
        replicas=replicas,
        namespace=namespace,
        schedule=schedule,
    )
    plan = plan_deploy(loaded, options)
    write_plan(plan, force=overwrite)
    if as_json:
        click.echo(json.dumps(plan.to_dict(), indent=2))
    elif quiet:
        for f in plan.files:
            click.echo(_shown(plan.out / f.path))
    else:
        _render(plan)


def _render(plan) -> None:
    out, err = console(stderr=False), console()
    if plan.model:
        m = plan.model
        out.print(
            f"[green]✓[/] {escape(plan.target)}: model {escape(m['name'])} version "
            f"{m['version']} ({escape(m['alias'])}), image {escape(plan.image or '')}"
        )
    else:
        out.print(f"[green]✓[/] {escape(plan.target)}")
    for f in plan.files:
        out.print(f"  {escape(_shown(plan.out / f.path))}  [dim]{escape(f.what)}[/]")
    if plan.bake:
        b = plan.bake
        size = f", {b.bytes / 1e6:.1f} MB" if b.bytes is not None else ""
        out.print(
            f"  {escape(_shown(plan.out / b.dest))}/  [dim]the baked registry: "
            f"{escape(b.name)} version {b.version}{size}[/]"
        )
    for note in plan.notes:
        err.print(f"note: {escape(note)}")
    for w in plan.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}")
    if plan.next_steps:
        out.print("next:")
        for step in plan.next_steps:
            out.print(f"  {escape(step)}")


def _shown(path) -> str:
    """Relative to the current folder when under it."""
    from pathlib import Path

    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
