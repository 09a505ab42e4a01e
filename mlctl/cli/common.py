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
from mlctl.redact import redact_text


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
                f"[bold red]unexpected error:[/] {type(exc).__name__}: "
                f"{escape(redact_text(exc))}\n"
                "[dim]run again with --traceback for details[/]"
            )
            sys.exit(int(ExitCode.ERROR))

    return click.option("--traceback", is_flag=True, help="Show the full traceback of an error.")(
        wrapper
    )


def _report(exc: MlctlError) -> None:
    err = console()
    # Messages quote user text (column names, values): never read it as markup.
    message = redact_text(exc.message)  # no secret from a URL or an env value
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    if exc.hint:
        err.print(f"[dim]hint: {escape(redact_text(exc.hint))}[/]")
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


class AliasedOption(click.Option):
    """An option whose old spellings still work but are not shown in ``--help``: a
    renamed flag keeps its old name so scripts keep working (docs/cli.md lists them)."""

    def __init__(self, *args: Any, hidden_aliases: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden_aliases = hidden_aliases

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown, self.opts = self.opts, [o for o in self.opts if o not in self.hidden_aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def overwrite_option(help: str) -> Callable[..., Any]:
    """``--overwrite``: replace files that exist (``--force`` before; still accepted).
    ``--force`` itself means one thing: promote past a failed gate (``models promote``)."""
    return click.option(
        "--overwrite",
        "--force",
        "overwrite",
        is_flag=True,
        cls=AliasedOption,
        hidden_aliases=("--force",),
        help=help,
    )


def quiet_option(help: str) -> Callable[..., Any]:
    """``--quiet``/``-q``: no progress and the shortest result (what, is the command's help)."""
    return click.option("--quiet", "-q", is_flag=True, help=help)


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


def _trust(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> None:
    """``--trust-prefix``: module prefixes the user trusts for ``_target_`` classes."""
    import re

    from mlctl.trust import trust

    for value in values:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\.?", value):
            raise click.BadParameter(
                f"'{value}' is not a module prefix like lightgbm or my_pkg.models"
            )
    trust(list(values))


trust_option = click.option(
    "--trust-prefix",
    "trust_prefixes",
    multiple=True,
    metavar="PREFIX",
    callback=_trust,
    expose_value=False,
    help="Trust classes under this module prefix in _target_ (repeatable; also "
    "MLCTL_TRUSTED_PREFIXES). A recipe cannot trust prefixes itself.",
)


def terminate_as_interrupt() -> None:
    """SIGINT, SIGTERM and SIGHUP (Ctrl-C, kill, a CI timeout, a closed terminal) unwind
    like Ctrl-C, so the MLflow run is ended as KILLED and the registry is left as it was
    (:mod:`mlctl.interrupts`)."""
    interrupts.install()


def confirm(yes: bool, question: str) -> None:
    """Ask ``question`` unless ``--yes``; refuse to ask when stdin is not a terminal."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError("pass --yes to confirm when not run interactively")
    if not click.confirm(question, err=True):
        raise click.Abort()
