"""The errors of the pipeline's own code: the base of mlctl's error family and its exit codes.

Defined here (not in ``mlctl.errors``, which re-exports them) because a logged model
carries this package without mlctl: :class:`DataError` and :class:`ExpressionError` are
what the transformers raise, and mlctl's CLI and server catch them as :class:`MlctlError`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the ``mlctl`` command (documented in docs/cli.md)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_READY = 3
    BAD_INPUT = 4
    TRACKING_UNAVAILABLE = 5
    COMPUTE_UNAVAILABLE = 6
    CANNOT_RUN = 7  # mlctl monitor: nothing to judge (no rows, no log, no profile, locked)
    MODEL_REJECTED = 8  # a model's files differ from the SHA-256 recorded at registration
    INTERRUPTED = 130


class MlctlError(Exception):
    """Base of every error meant for a user; carries its exit code and a hint."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ExpressionError(MlctlError):
    """A derived-feature expression does not parse or uses something not allowed."""

    exit_code = ExitCode.BAD_INPUT


class DataError(MlctlError):
    """The data cannot be read or breaks the recipe's expectations."""

    exit_code = ExitCode.BAD_INPUT
