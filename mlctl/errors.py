"""One family of errors for everything a user can get wrong, and the exit codes.

Every error names what is wrong and where (a key path, a file:line, a column, a
row), what was found, what was expected and, where there is one, a hint. Only
the CLI turns them into exit codes and printed lines.
"""

from __future__ import annotations

from dataclasses import dataclass

# The base class and the errors the pipeline's transformers raise live in mlctl_runtime,
# which a logged model carries with it (mlctl_runtime/__init__.py); re-exported here.
from mlctl_runtime.errors import DataError, ExitCode, ExpressionError, MlctlError

__all__ = [
    "CompareCannotRun",
    "ComputeError",
    "DataError",
    "DriftOptionsError",
    "EmptyDataError",
    "ExitCode",
    "ExpressionError",
    "FeedbackError",
    "Issue",
    "LoadtestCannotRun",
    "MlctlError",
    "ModelRejected",
    "ModelUnreadable",
    "MonitorCannotRun",
    "PredictionLogError",
    "ProfileError",
    "ProfileNotFoundError",
    "RecipeError",
    "RegistryError",
    "RowsRejected",
    "TrackingError",
    "TrainingError",
    "UsageError",
    "WorkerFailed",
]


@dataclass(frozen=True)
class Issue:
    """One problem found in a recipe: where it is and what is wrong."""

    path: str
    message: str
    location: str | None = None  # "file:line" when known
    hint: str | None = None
    # About a key that names data columns through another section (e.g. a drift test
    # of a feature): when the data is read, its column checks come first, so that a
    # misspelt column is reported as itself, not as this issue's consequence.
    after_data: bool = False

    def render(self) -> str:
        if not self.path and not self.location:
            return self.message  # about the recipe as a whole, e.g. a missing file
        where = f"{self.path}" if self.path else "<recipe>"
        if self.location:
            where = f"{where} ({self.location})"
        return f"{where}: {self.message}"


class RecipeError(MlctlError):
    """The recipe cannot be used: it holds one or more issues, reported together."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, issues: list[Issue] | str, *, hint: str | None = None) -> None:
        if isinstance(issues, str):
            issues = [Issue("", issues)]
        self.issues = list(issues)
        hints = [i.hint for i in self.issues if i.hint]
        hint = hint or (hints[0] if len(hints) == 1 else None)
        if len(self.issues) == 1:
            message = f"recipe error: {self.issues[0].render()}"
        else:
            lines = "\n".join(f"  - {i.render()}" for i in self.issues)
            message = f"recipe has {len(self.issues)} errors:\n{lines}"
        super().__init__(message, hint=hint)


class UsageError(MlctlError):
    """The command line itself is wrong (e.g. an override that does not parse)."""

    exit_code = ExitCode.USAGE


class TrackingError(MlctlError):
    """The MLflow tracking store or model registry cannot be reached or used."""

    exit_code = ExitCode.TRACKING_UNAVAILABLE


class ComputeError(MlctlError):
    """The Dask cluster cannot be reached, or a local one cannot be started."""

    exit_code = ExitCode.COMPUTE_UNAVAILABLE


class RegistryError(MlctlError):
    """A registry operation was asked for something that does not exist."""

    exit_code = ExitCode.BAD_INPUT


class PredictionLogError(MlctlError):
    """The prediction log cannot be read: missing, unreachable, or not an mlctl log."""

    exit_code = ExitCode.BAD_INPUT


# The errors of one stage each; all live here so that every MlctlError is in one place.


class TrainingError(MlctlError):
    """A candidate failed to train for a reason the user must fix."""


# Models: loading a registered version (mlctl.tracking.artifacts)


class ModelRejected(RegistryError):
    """A registered version's files do not match what was recorded at registration, no
    digest was recorded, or the files cannot be read: nothing was deserialized."""

    exit_code = ExitCode.MODEL_REJECTED


class ModelUnreadable(ModelRejected):
    """The version's files could not be read or downloaded (maybe for a while: a
    storage outage); nothing was checked or deserialized."""


# Serving (mlctl.serve.server)


class WorkerFailed(MlctlError):
    """The workers could not start, or kept dying."""


# Monitoring: reference profiles, drift options, the run itself


class ProfileError(DataError):
    """A reference profile cannot be read or built (damaged, newer schema, bad column)."""


class ProfileNotFoundError(RegistryError):
    """The run behind a registered model version has no reference profile."""


class EmptyDataError(DataError):
    """The current data has no rows, so there is nothing to compare."""


class DriftOptionsError(MlctlError):
    """A drift option names an unknown method, column or an impossible value."""

    exit_code = ExitCode.BAD_INPUT


class MonitorCannotRun(MlctlError):
    """The monitor cannot judge anything: no rows in the window, no prediction log, a
    model version without a reference profile, or another run holds the lock (exit 7)."""

    exit_code = ExitCode.CANNOT_RUN


# Comparing versions on production traffic, sending labels back


class CompareCannotRun(MlctlError):
    """``mlctl compare`` cannot read the prediction log (missing, unreachable, not an
    mlctl log): nothing to compare (exit 7)."""

    exit_code = ExitCode.CANNOT_RUN


class FeedbackError(MlctlError):
    """A labels file for ``mlctl feedback`` cannot be used: missing column, no rows,
    duplicate ids, labels the model does not know; or the server refused it."""

    exit_code = ExitCode.BAD_INPUT


# Load testing (mlctl.loadtest)


class LoadtestCannotRun(MlctlError):
    """``mlctl loadtest`` cannot measure: the service is unreachable, not ready, not an
    mlctl service, or could not be started (exit 7, or the code ``mlctl serve`` gave)."""

    exit_code = ExitCode.CANNOT_RUN


class RowsRejected(DataError):
    """The rows to replay do not fit the served model: columns it does not take, columns
    it needs, or rows the service refuses with a 4xx (exit 4)."""
