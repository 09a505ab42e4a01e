"""``mlctl models``: list, describe, promote and roll back registered versions."""

from __future__ import annotations

import json
from typing import Any

import click

from mlctl.cli.common import (
    confirm,
    console,
    escape,
    handle_errors,
    json_option,
    quiet_option,
    terminate_as_interrupt,
    workspace_option,
)
from mlctl.cli.tables import out
from mlctl.text import number_text

READ_CODES = """\b
Exit codes: 0 shown, 4 unknown model, version or alias (or no workspace),
5 tracking unavailable, 2 bad usage, 1 other error, 130 interrupted
(see docs/cli.md)."""

CHANGE_CODES = """\b
Exit codes: 0 done, 4 unknown model or version (or a failed-gate version without
--force, or no previous champion), 5 tracking unavailable, 8 model files differ
from their recorded SHA-256, 2 bad usage (no --yes off a terminal), 1 other error
(or "n" at the prompt), 130 interrupted (see docs/cli.md)."""


@click.group("models")
def models() -> None:
    """Inspect and change the model registry."""


@models.command("list", epilog=READ_CODES)
@click.argument("name")
@workspace_option
@json_option
@quiet_option("Only the version numbers, one a line.")
@handle_errors
def models_list(name, workspace, as_json, quiet) -> None:
    """List the versions of model NAME, newest first (with why a version was rolled
    back)."""
    versions = _read_registry(workspace).versions(name)
    if as_json:
        click.echo(json.dumps([with_records(v) for v in versions], indent=2))
    elif quiet:
        for v in versions:
            click.echo(str(v.version))
    else:
        versions_table(name, versions)


@models.command("describe", epilog=READ_CODES)
@click.argument("name")
@click.argument("version", default="champion")
@workspace_option
@json_option
@quiet_option("Only the version number (e.g. of an alias).")
@handle_errors
def models_describe(name, version, workspace, as_json, quiet) -> None:
    """Show one VERSION (number or alias, default champion) of model NAME, with its
    operation records: the last load test, monitoring, comparison and rollout."""
    info = _read_registry(workspace).version(name, version)
    if as_json:
        click.echo(json.dumps(with_records(info), indent=2))
    elif quiet:
        click.echo(str(info.version))
    else:
        version_detail(info)


@models.command("promote", epilog=CHANGE_CODES)
@click.argument("name")
@click.argument("version", type=int)
@click.option("--reason", default="manual promotion", help="Why; recorded on the version.")
@click.option("--force", is_flag=True, help="Promote even a version that failed its gate.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@workspace_option
@json_option
@quiet_option("No confirmation line.")
@handle_errors
def models_promote(name, version, reason, force, yes, workspace, as_json, quiet) -> None:
    """Make VERSION of model NAME the champion."""
    confirm(yes, f"Make version {version} of '{name}' the champion?")
    terminate_as_interrupt()
    info = _registry(workspace).promote(name, version, reason, force=force)
    if as_json:
        click.echo(json.dumps(info.to_dict(), indent=2))
    elif not quiet:
        console().print(f"[green]✓[/] {name} version {info.version} is now champion")


@models.command("rollback", epilog=CHANGE_CODES)
@click.argument("name")
@click.option("--reason", default="manual rollback", help="Why; recorded on both versions.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@workspace_option
@json_option
@quiet_option("No confirmation line.")
@handle_errors
def models_rollback(name, reason, yes, workspace, as_json, quiet) -> None:
    """Move the champion alias of model NAME back to the previous champion."""
    confirm(yes, f"Roll back the champion of '{name}' to the previous champion?")
    terminate_as_interrupt()
    old, new = _registry(workspace).rollback(name, reason)
    if as_json:
        click.echo(json.dumps({"name": name, "from_version": old, "to_version": new}))
    elif not quiet:
        console().print(f"[green]✓[/] {name}: champion moved from version {old} back to {new}")


def _registry(workspace: str | None):
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import open_existing, resolve_workspace

    ws = resolve_workspace(workspace)
    open_existing(ws)
    return Registry(ws)


def _read_registry(workspace: str | None):
    """For read-only commands: answers from the workspace's SQLite file without
    importing MLflow where it can (``mlctl.tracking.local_read``), else from MLflow."""
    from mlctl.tracking.local_read import ReadOnlyRegistry
    from mlctl.tracking.workspace import resolve_workspace

    return ReadOnlyRegistry(resolve_workspace(workspace))


def versions_table(name: str, items) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title=f"Model {name}", box=box.SIMPLE_HEAVY)
    rolled = any(ROLLED_BACK_TAG in v.tags for v in items)  # the column only when needed
    for col in ("version", "aliases", "created", "gate", "metric", "run"):
        table.add_column(col)
    if rolled:
        table.add_column("rolled back", overflow="fold")
    for v in items:
        metric = v.tags.get("mlctl.selection_metric")
        value = f"{metric} {number_text(v.metrics.get(metric))}" if metric else ""
        style = "bold green" if "champion" in v.aliases else ""
        cells = [
            str(v.version),
            ", ".join(v.aliases),
            v.created,
            v.tags.get("mlctl.gate", ""),
            value,
            v.run_id or "",
        ]
        if rolled:
            cells.append(escape(v.tags.get(ROLLED_BACK_TAG, "")))
        table.add_row(*cells, style=style)
    out().print(table)


def version_detail(v) -> None:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    table.add_row("model", v.name)
    table.add_row("version", str(v.version))
    table.add_row("aliases", ", ".join(v.aliases) or "—")
    table.add_row("created", v.created)
    table.add_row("run", v.run_id or "—")
    table.add_row("source", v.source or "—")
    for k, val in sorted(v.metrics.items()):
        table.add_row(f"test {k}", number_text(val))
    shown = record_tags(v.tags)
    for k, val in sorted(v.tags.items()):
        if k not in shown:
            table.add_row(k, escape(_short_tag(k, val)))
    out().print(table)
    records = operation_records(v.tags)
    if records or ROLLED_BACK_TAG in v.tags:
        records_table(v.tags, records)


def records_table(tags: dict[str, str], records: dict[str, dict[str, Any]]) -> None:
    """The version's operation records: kind, last verdict, its MLflow run."""
    from rich import box
    from rich.table import Table

    table = Table(title="Operation records", box=box.SIMPLE, title_justify="left")
    for col in ("record", "last status", "run"):
        table.add_column(col, overflow="fold")
    for kind, record in records.items():
        status = record.get("status") or ""
        if kind == "rollout" and record.get("state"):
            at = f" at {record['percent']} %" if record.get("percent") else ""
            status = f"{record['state']}{at}" + (f"; {status}" if status else "")
        table.add_row(kind, escape(status), record.get("run_id") or "")
    if ROLLED_BACK_TAG in tags:
        table.add_row("rolled back", escape(tags[ROLLED_BACK_TAG]), "", style="red")
    out().print(table)


ROLLED_BACK_TAG = "mlctl.rolled_back"  # "<timestamp>: <reason>" (Registry._move_back)
RECORD_KINDS = ("loadtest", "monitoring", "compare", "rollout")
ROLLOUT_TAGS = {"state": "mlctl.rollout.status", "percent": "mlctl.rollout.percent"}


def record_tags(tags: dict[str, str]) -> set[str]:
    """The tags :func:`operation_records` reads (the detail table leaves them out)."""
    keys = {f"mlctl.{k}.last_{f}" for k in RECORD_KINDS for f in ("status", "run_id")}
    return (keys | set(ROLLOUT_TAGS.values()) | {ROLLED_BACK_TAG}) & set(tags)


def operation_records(tags: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Kind → {status, run_id} from a version's ``mlctl.<kind>.last_status`` and
    ``mlctl.<kind>.last_run_id`` tags (kinds that left none are not listed); the
    rollout's also ``state`` and ``percent`` (``mlctl.rollout.status``/``percent``)."""
    records: dict[str, dict[str, Any]] = {}
    for kind in RECORD_KINDS:
        record = {
            "status": tags.get(f"mlctl.{kind}.last_status"),
            "run_id": tags.get(f"mlctl.{kind}.last_run_id"),
        }
        if kind == "rollout":
            record.update({key: tags.get(tag) for key, tag in ROLLOUT_TAGS.items()})
        if any(value is not None for value in record.values()):
            records[kind] = record
    return records


def with_records(v) -> dict[str, Any]:
    """A version object for ``--json``: its fields, ``records`` (see
    :func:`operation_records`) and ``rolled_back`` (the tag's text, or null)."""
    return {
        **v.to_dict(),
        "records": operation_records(v.tags),
        "rolled_back": v.tags.get(ROLLED_BACK_TAG),
    }


def _short_tag(key: str, value: str) -> str:
    """The per-file digests as a count (``--json`` has them all)."""
    from mlctl.tracking.artifacts import FILES_TAG

    if key != FILES_TAG:
        return value
    try:
        return f"{len(json.loads(value))} files"
    except (ValueError, TypeError):
        return value
