"""What every ``mlctl`` command shares: error handling, the console, common options.

Command modules import from here, never from :mod:`mlctl.cli.main`, which imports them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from mlctl import interrupts
from mlctl.errors import ExitCode, MlctlError


def escape(text: str) -> str:
    """User text (column names, values) printed by rich, never read as markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def console(stderr: bool = True):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one line on stderr and a documented exit code.

    After a stop signal (:mod:`mlctl.interrupts`) every error is the interruption:
    what the signal broke on its way out (a worker process that died with it) is not
    reported as an error of its own.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        traceback = kwargs.pop("traceback", False) or os.environ.get("MLCTL_TRACEBACK") == "1"
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            _interrupted()
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            if traceback:
                raise
            if interrupts.received() is not None:
                _interrupted()
            if isinstance(exc, MlctlError):
                _report(exc)
            console().print(
                f"[bold red]unexpected error:[/] {type(exc).__name__}: {escape(str(exc))}\n"
                "[dim]run again with --traceback for details[/]"
            )
            sys.exit(int(ExitCode.ERROR))

    return click.option("--traceback", is_flag=True, help="Show the full traceback of an error.")(
        wrapper
    )


def _report(exc: MlctlError) -> None:
    err = console()
    # Messages quote user text (column names, values): never read it as markup.
    err.print(f"[bold red]error:[/] {escape(exc.message)}", markup=True, highlight=False)
    if exc.hint:
        err.print(f"[dim]hint: {escape(exc.hint)}[/]")
    sys.exit(int(exc.exit_code))


def _interrupted() -> None:
    """Exit 130 after Ctrl-C or a stop signal; the terminal may be gone (SIGHUP)."""
    signum = interrupts.received()
    with contextlib.suppress(OSError):
        console().print(
            f"[yellow]interrupted ({interrupts.name(signum)})[/]"
            if signum
            else "[yellow]interrupted[/]"
        )
    sys.exit(int(ExitCode.INTERRUPTED))


recipe_argument = click.argument("recipe", type=click.Path(dir_okay=False))
overrides_argument = click.argument("overrides", nargs=-1)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print only a JSON document on stdout."
)
workspace_option = click.option(
    "--workspace",
    type=click.Path(file_okay=False),
    default=None,
    help="Workspace folder; overrides the recipe's tracking.workspace (default .mlctl in the current folder).",
)
