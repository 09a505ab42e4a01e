"""The pure parts of the ``compute`` section: the scheduler address form, LocalCluster size.

Nothing here imports Dask, so recipe checks and ``mlctl --help`` stay fast.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

SCHEMES = ("tcp", "tls")
EXPECTED = "expected tcp://host:port (or tls://host:port), e.g. tcp://10.0.0.5:8786"
#: A LocalCluster gets at least this long to start its worker processes (a busy machine
#: with slow imports needs more than a connect timeout).
LOCAL_START_TIMEOUT = 60.0


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a Dask scheduler address; None when it is one.

    Accepted: ``tcp://host:port`` and ``tls://host:port`` with a host name, an IPv4
    address or a bracketed IPv6 address, and a port from 1 to 65535. Nothing else
    (no path, no user, no query).
    """
    bad = f"'{address}' is not a Dask scheduler address; {EXPECTED}"
    scheme, sep, _ = address.partition("://")
    if not sep or scheme not in SCHEMES:
        return bad
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        return bad
    extras = (parts.path, parts.query, parts.fragment, parts.username, parts.password)
    if not parts.hostname or not port or any(extras):
        return bad
    return None


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
