"""Run the app under uvicorn: one process, or N worker processes sharing the port.

Before any worker starts, math libraries are pinned to one thread per process
(``OMP_NUM_THREADS`` & co.; measured here: two workers with default threading
oversubscribe two cores and stall under load) and Prometheus' multiprocess directory
is set for more than one worker. On SIGTERM each worker turns ``/ready`` to 503 (see
the app's lifespan), uvicorn drains in-flight requests, then the prediction log
commits what it holds and the command exits 0.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from dataclasses import dataclass
from typing import Any

from mlctl.serve.app import ServeConfig

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@dataclass
class Bind:
    host: str
    port: int
    workers: int
    drain_seconds: float


def pin_threads() -> None:
    """One math-library thread per process (inherited by worker processes)."""
    for name in THREAD_VARS:
        os.environ[name] = "1"


def _graceful_exit(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def run_server(config: ServeConfig, bind: Bind) -> None:
    """Serve until SIGTERM/SIGINT (blocks)."""
    import uvicorn

    pin_threads()
    # uvicorn drains on SIGTERM, then re-raises it; the handler it restores then makes a
    # graceful stop exit 0 rather than "killed by SIGTERM".
    signal.signal(signal.SIGTERM, _graceful_exit)
    os.environ["MLCTL_SERVE_CONFIG"] = config.to_json()
    prom_dir = None
    if bind.workers > 1:
        prom_dir = tempfile.mkdtemp(prefix="mlctl-prometheus-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prom_dir
    common = dict(
        host=bind.host,
        port=bind.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=max(1, int(bind.drain_seconds)),
        lifespan="on",
        server_header=False,
    )
    try:
        if bind.workers == 1:
            from mlctl.serve.app import create_app

            uvicorn.run(create_app(config), **common)
        else:
            uvicorn.run(
                "mlctl.serve.app:app_from_env", factory=True, workers=bind.workers, **common
            )
    finally:
        if prom_dir:
            shutil.rmtree(prom_dir, ignore_errors=True)
