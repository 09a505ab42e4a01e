"""The ``mlctl`` command group: it only assembles the commands.

Each command lives in its own module, ``mlctl X`` in :mod:`mlctl.cli.X`, with its own
rendering; what they share is in :mod:`mlctl.cli.common` (errors, options) and
:mod:`mlctl.cli.tables` (consoles, progress). Heavy libraries (MLflow, pandas,
sklearn, rich) are imported inside the commands so ``mlctl --help`` stays fast.
"""

from __future__ import annotations

import os

import click

from mlctl import __version__
from mlctl.cli.compare import compare
from mlctl.cli.deploy import deploy
from mlctl.cli.feedback import feedback
from mlctl.cli.import_recipe import import_recipe
from mlctl.cli.init import init
from mlctl.cli.loadtest import loadtest
from mlctl.cli.models import models
from mlctl.cli.monitor import monitor
from mlctl.cli.predict import predict
from mlctl.cli.rollout import rollout
from mlctl.cli.run import run
from mlctl.cli.serve import serve
from mlctl.cli.show import show
from mlctl.cli.validate import validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlctl")
def cli() -> None:
    """mlctl: one YAML recipe to a validated, trained, gated and registered model."""


def _one_line(command: click.Command) -> str:
    """The first paragraph of a command's help, whole: ``mlctl --help`` shows it
    without click's cut at ~45 characters (long lines wrap instead)."""
    return " ".join((command.help or "").split("\n\n")[0].split())


COMMANDS = (
    run,
    predict,
    validate,
    show,
    models,
    serve,
    monitor,
    compare,
    feedback,
    rollout,
    loadtest,
    init,
    deploy,
    import_recipe,
)
for command in COMMANDS:
    command.short_help = command.short_help or _one_line(command)
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    import warnings

    # Library deprecation notices (sklearn, pandas, MLflow) are for developers, not for
    # the terminal of a training run; worker processes inherit the setting.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    cli(prog_name="mlctl")
