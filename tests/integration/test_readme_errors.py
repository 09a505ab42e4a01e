"""The README's error examples print what the README shows, line for line (a shown
line ending in '…' is compared up to there)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def shown_error_examples() -> list[tuple[str, list[str]]]:
    """(command, shown output lines) of each ``$ mlctl ...`` in the README's block
    after "Mistakes are caught"."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("Mistakes are caught", 1)[1]
    block = re.search(r"```text\n(.*?)\n```", section, re.S).group(1)
    examples: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            examples.append((line[2:], []))
        elif line.strip():
            examples[-1][1].append(line)
    return examples


EXAMPLES = shown_error_examples()


def test_the_readme_shows_both_examples():
    assert [cmd.split()[1] for cmd, _ in EXAMPLES] == ["validate", "run"]


@pytest.mark.parametrize(("command", "shown"), EXAMPLES, ids=["validate", "run"])
def test_the_readme_error_examples_print_what_is_shown(command, shown):
    args = shlex.split(command)
    assert args[0] == "mlctl"
    res = subprocess.run(
        [sys.executable, "-m", "mlctl", *args[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 4, res.stderr
    printed = res.stderr.splitlines()
    assert len(printed) == len(shown), res.stderr
    for got, want in zip(printed, shown, strict=True):
        if want.endswith("…"):
            assert got.startswith(want[:-1]), (got, want)
        else:
            assert got == want
