"""The command line is consistent: every command's help lists its exit codes as
docs/cli.md does, flags mean one thing each, renamed flags keep their old spelling."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mlctl.cli.main import cli

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[3] / "docs" / "cli.md"


def _commands() -> dict[str, click.Command]:
    found = {}
    for name, cmd in cli.commands.items():
        if isinstance(cmd, click.Group):
            found.update({f"{name} {sub}": c for sub, c in cmd.commands.items()})
        else:
            found[name] = cmd
    return found


def _help(path: str) -> str:
    result = CliRunner().invoke(cli, [*path.split(), "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def _codes(text: str) -> set[int]:
    """The numbers that start an item of an "Exit codes:" paragraph."""
    para = " ".join(text.split("Exit codes:", 1)[1].split("\n\n")[0].split())
    return {int(n) for n in re.findall(r"(?:^|, )(\d+) ", para)}


def _documented() -> dict[str, set[int]]:
    section = DOC.read_text().split("### Exit codes by command", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `mlctl ([a-z -]+)` \| ([\d, ]+) \|", section, re.M)
    return {name: {int(c) for c in codes.split(",")} for name, codes in rows}


def test_top_level_help_shows_whole_descriptions() -> None:
    text = " ".join(_help("").split("Commands:")[1].split())
    assert "..." not in text
    for name, cmd in cli.commands.items():
        first = " ".join((cmd.help or "").split("\n\n")[0].split())
        assert f"{name} {first}" in text, name


@pytest.mark.parametrize("path", sorted(_commands()))
def test_help_lists_the_exit_codes_docs_cli_md_lists(path: str) -> None:
    documented = _documented()
    assert path in documented, f"docs/cli.md: no row for mlctl {path} in 'Exit codes by command'"
    assert _codes(_help(path)) == documented[path]


@pytest.mark.parametrize("path", sorted(_commands()))
def test_json_and_quiet_wherever_output_is_printed(path: str) -> None:
    text = _help(path)
    assert "-q, --quiet" in text
    if path != "serve":  # its output is the HTTP API (docs/cli.md#mlctl-serve)
        assert "--json" in text


def test_short_t_means_the_target_column_only() -> None:
    shown = [p for p in _commands() if re.search(r"^\s+-t, ", _help(p), re.M)]
    assert shown == ["init"]


@pytest.mark.parametrize("path", ["init", "deploy", "import-recipe"])
def test_overwrite_replaces_files_and_force_is_its_hidden_old_name(path: str) -> None:
    text = _help(path)
    assert "--overwrite" in text and "--force" not in text
    cmd = _commands()[path]
    (option,) = [p for p in cmd.params if p.name == "overwrite"]
    assert "--force" in option.opts  # scripts that pass --force keep working


def test_force_means_past_a_failed_gate() -> None:
    assert "--force" in _help("models promote")


def test_old_spellings_still_parse(tmp_path: Path) -> None:
    """deploy -t and init --force are accepted (the commands then fail on the missing
    files, not on the command line)."""
    runner = CliRunner()
    deploy = runner.invoke(cli, ["deploy", str(tmp_path / "r.yaml"), "-t", "docker"])
    assert deploy.exit_code == 4, deploy.output  # the recipe is missing, not a usage error
    init = runner.invoke(cli, ["init", str(tmp_path / "d.csv"), "-t", "y", "--force"])
    assert init.exit_code == 4, init.output
