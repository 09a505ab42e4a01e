"""Sweeps: ``mlctl run RECIPE -m key=a,b ...`` through Hydra's sweepers and launchers.

:func:`run_sweep` is the library call; see :mod:`mlctl.sweep.launch` for how a sweep
runs and :mod:`mlctl.sweep.core` for the job records and the ranking.
"""

from mlctl.sweep.core import JobRecord, SweepSummary
from mlctl.sweep.launch import SweepOptions, run_sweep

__all__ = ["JobRecord", "SweepOptions", "SweepSummary", "run_sweep"]
