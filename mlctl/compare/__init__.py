"""Champion against challenger on production traffic (``mlctl compare``).

:func:`compare` reads the prediction log and the labels sent back, and returns a
:class:`Comparison` whose ``verdict`` is ``"better"``, ``"worse"`` or ``"unknown"``;
the rollout guard calls it. Modules: :mod:`~mlctl.compare.stats` (DeLong, Newcombe,
bootstrap, sample size), :mod:`~mlctl.compare.metrics` (the metrics for resampling),
:mod:`~mlctl.compare.analysis` (frames to a verdict), :mod:`~mlctl.compare.run` (the
log, the MLflow record), :mod:`~mlctl.compare.report` (the HTML report).
"""

from __future__ import annotations

from mlctl.compare.run import Comparison, compare

__all__ = ["Comparison", "compare"]
