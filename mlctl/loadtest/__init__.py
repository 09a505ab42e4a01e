"""``mlctl loadtest``: replay rows against a served model and judge it by its SLO.

| Module | Owns |
|---|---|
| ``run.py`` | :func:`loadtest`: options, the service, the rows, the load, the result document, the SLO verdict and the MLflow record. |
| ``generator.py`` | The load: closed-loop clients or an open-loop fixed rate into an HDR histogram. |
| ``http.py`` | Keep-alive HTTP/1.1 connections with pre-encoded requests (httptools parses answers). |
| ``service.py`` | The service: ``--url`` checked, or ``mlctl serve`` started and stopped. |
| ``rows.py`` | The rows replayed and the request bodies. |
| ``slo.py`` | ``deploy.serve.slo`` checked against the measurement. |

See docs/operations.md (Load testing).
"""

from __future__ import annotations

from mlctl.loadtest.run import LoadtestOptions, LoadtestResult, loadtest

__all__ = ["LoadtestOptions", "LoadtestResult", "loadtest"]
