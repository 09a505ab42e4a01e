"""The pure parts of the ``compute`` section: the LocalCluster size (the scheduler
address form is :func:`mlctl.recipe.forms.address_problem`).

Nothing here imports Dask, so recipe checks and ``mlctl --help`` stay fast.
"""

from __future__ import annotations

import os

#: A LocalCluster gets at least this long to start its worker processes (a busy machine
#: with slow imports needs more than a connect timeout).
LOCAL_START_TIMEOUT = 60.0


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def local_cluster_size(
    n_workers: int | None, threads_per_worker: int | None, cores: int
) -> tuple[int, int]:
    """Worker processes and threads per worker of the LocalCluster mlctl starts.

    By default one single-threaded process per core: scikit-learn fits hold the GIL in
    much of their Python code, so processes scale where threads do not.
    """
    threads = threads_per_worker or 1
    workers = n_workers or max(1, cores // threads)
    return workers, threads
