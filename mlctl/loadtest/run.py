"""``mlctl loadtest``: the service, the rows, the load, the SLO verdict, the record.

Result document (``--json``; also the MLflow run's ``loadtest.json``)::

    {"schema_version": 1, "status": "pass" | "fail" | "interrupted",
     "verdict": "pass: p95 2.1 ms <= 100 ms; errors 0.00 % <= 1 %", "reasons": [...],
     "model": {"name", "version"}, "service": {"url", "started": bool},
     "load": {"mode": "closed" | "open", "clients", "rate_rps", "connections",
              "duration_s", "rows_per_request", "rows_source", "distinct_bodies"},
     "results": {"requests", "answered", "ok", "elapsed_s", "throughput_rps",
                 "ok_per_second", "rows_per_second", "error_rate", "errors",
                 "latency_ms": {"p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"},
                 "statuses": {"200": n, ...}, "failures": {"timeout": n, ...}},
     "generator": {"cpu_seconds", "cpu_percent", "cpu_us_per_request", "event_loop"},
     "slo": {"p95_ms", "p99_ms", "max_error_rate", "min_throughput_rps",
             "checks": [{"name", "limit", "value", "passed"}]},
     "warnings": [...], "mlflow_run_id": str | null}
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlctl.errors import ExitCode, RowsRejected, TrackingError, UsageError
from mlctl.loadtest import generator, rows, service, slo
from mlctl.loadtest.http import Target, encode_post
from mlctl.text import first_line

RESULT_ARTIFACT = "loadtest.json"
LAST_RUN_TAG = "mlctl.loadtest.last_run_id"
LAST_STATUS_TAG = "mlctl.loadtest.last_status"
ROUTE = "/predict"


@dataclass
class LoadtestOptions:
    """Command-line choices (None: the default)."""

    url: str | None = None
    rows_file: str | None = None
    clients: int | None = None
    rate: float | None = None
    connections: int | None = None
    duration: float = 30.0
    rows_per_request: int = 1
    timeout: float = 5.0
    workspace: str | None = None
    log_run: bool = True


@dataclass
class LoadtestResult:
    document: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        status = self.document["status"]
        if status == "interrupted":
            return ExitCode.INTERRUPTED
        return ExitCode.OK if status == "pass" else ExitCode.NOT_READY


def check_options(o: LoadtestOptions, max_batch_rows: int) -> None:
    """Raises UsageError for combinations that cannot run."""
    if o.clients is not None and o.rate is not None:
        raise UsageError(
            f"--clients {o.clients} and --rate {o.rate:g} together: choose one, --clients N "
            "(closed loop: N clients, each waits for its answer) or --rate R (open loop: R "
            "requests per second whatever the service does; --connections bounds them)"
        )
    if o.connections is not None and o.rate is None:
        raise UsageError("--connections is for the open loop: give --rate R with it")
    if not math.isfinite(o.duration) or o.duration <= 0:
        raise UsageError(f"--duration must be more than 0 seconds; got {o.duration:g}")
    if o.rate is not None and o.rate * o.duration < 1:
        raise UsageError(
            f"--rate {o.rate:g} for --duration {o.duration:g}s sends no request "
            f"(rate x duration = {o.rate * o.duration:g}); raise one of them"
        )
    if o.rows_per_request > max_batch_rows:
        raise UsageError(
            f"--rows-per-request {o.rows_per_request} is over deploy.serve.max_batch_rows "
            f"({max_batch_rows}): the service would answer 413"
        )


def loadtest(
    loaded: Any,
    overrides: list[str],
    options: LoadtestOptions,
    on_event: Callable[[str, dict[str, Any]], None] = lambda kind, data: None,
) -> LoadtestResult:
    """Load-test the recipe's service and judge it against ``deploy.serve.slo``.

    Raises:
        UsageError: a bad option combination or --url.
        LoadtestCannotRun: the service cannot be reached or started.
        RowsRejected: the rows do not fit the served model.
    """
    settings = loaded.recipe.deploy.serve
    check_options(options, settings.max_batch_rows)
    warnings: list[str] = []
    with contextlib.ExitStack() as stack:
        if options.url:
            target = Target.parse(options.url)
            on_event("stage", {"message": f"checking {target.base}/ready"})
            service.wait_ready(target, 0)
        else:
            on_event("stage", {"message": "starting mlctl serve"})
            server = stack.enter_context(_local_server(loaded, overrides, options, warnings))
            target = server.target
        model = service.served_model(target)
        found = _rows(loaded, options, target, model)
        headers = _auth_headers(settings.api_key_env)
        bodies = rows.bodies(found, options.rows_per_request)
        requests = [encode_post(target, ROUTE, b, headers) for b in bodies]
        _preflight(target, bodies[0], headers, found.source)
        plan = generator.Plan(
            requests,
            options.rows_per_request,
            options.duration,
            clients=None if options.rate else (options.clients or 8),
            rate=options.rate,
            connections=options.connections or 32,
            timeout=options.timeout,
        )
        on_event("stage", {"message": f"{plan.mode} loop for {plan.duration:g} s"})
        measured = generator.run(plan, target, lambda m: on_event("tick", {"sent": m.sent}))
    doc = document(plan, measured, model, target, not options.url, found, settings.slo.model_dump())
    if measured.statuses.keys() & set(range(400, 500)):
        warnings.append(
            "some requests were answered with a 4xx (see statuses): the service refused "
            "those rows; they are not counted as errors against the SLO"
        )
    result = LoadtestResult(doc, warnings)
    if options.log_run and doc["status"] != "interrupted":
        try:
            doc["mlflow_run_id"] = record(loaded, options.workspace, doc, warnings)
        except TrackingError as exc:
            warnings.append(f"the load test was not logged to MLflow: {exc.message}")
        except Exception as exc:  # the verdict stands whatever the tracking store does
            warnings.append(
                f"the load test was not logged to MLflow: {type(exc).__name__}: {first_line(exc)}"
            )
    doc["warnings"] = warnings
    return result


def _local_server(loaded: Any, overrides: list[str], options: LoadtestOptions, warnings):
    from mlctl.tracking.workspace import for_recipe

    settings = loaded.recipe.deploy.serve
    ws = for_recipe(loaded, options.workspace)
    url = settings.log.url or ""
    sqlite = not url or url.startswith("sqlite")
    if not sqlite:
        warnings.append(
            "the started service logs to the recipe's prediction log (not SQLite): the "
            "load-test rows are in it"
        )
    return service.LocalServer(
        loaded.path,
        overrides,
        options.workspace,
        # no workspace folder: mlctl serve refuses to start and says why
        ws.root if sqlite and ws.root.is_dir() else None,
        drain_seconds=settings.drain_seconds,
        warnings=warnings,  # what the service logged as errors is said at the end
    )


def _rows(loaded: Any, options: LoadtestOptions, target: Target, model: dict[str, Any]):
    columns = model.get("features") or []
    id_column = loaded.recipe.data.id_column
    if options.rows_file:
        return rows.from_file(options.rows_file, columns, {id_column} if id_column else set())
    found = rows.from_recipe(loaded, columns) or rows.from_example(service.input_example(target))
    if found is None:
        raise RowsRejected(
            "no rows to replay: the recipe's data is not at hand and the served model "
            "has no input example",
            hint="give --rows FILE (CSV or Parquet with the model's columns)",
        )
    return found


def _auth_headers(env_name: str | None) -> dict[str, str]:
    import os

    key = os.environ.get(env_name) if env_name else None
    return {"Authorization": f"Bearer {key}"} if key else {}


def _preflight(target: Target, body: bytes, headers: dict[str, str], source: str) -> None:
    """One request before the load: rows the service refuses stop here, in words."""
    reply = service.request(target, "POST", ROUTE, body, headers, timeout=30.0)
    if reply.status == 401:
        raise UsageError(
            f"{target.base}{ROUTE} answered 401: {reply.message()}",
            hint="set the variable deploy.serve.api_key_env names to the service's key",
        )
    if 400 <= reply.status < 500:
        raise RowsRejected(
            f"the service refused a request of {source} with {reply.status}: {reply.message()}"
        )


def document(plan, m, model, target: Target, started: bool, found, slo_settings) -> dict:
    answered = m.answered
    ok = sum(n for s, n in m.statuses.items() if 200 <= s < 300)
    errors = sum(n for s, n in m.statuses.items() if s >= 500) + sum(m.failures.values())
    total = answered + sum(m.failures.values())
    results = {
        "requests": total,
        "answered": answered,
        "ok": ok,
        "elapsed_s": round(m.elapsed, 3),
        "throughput_rps": answered / m.elapsed,
        "ok_per_second": ok / m.elapsed,
        "rows_per_second": ok * plan.rows_per_request / m.elapsed,
        "error_rate": errors / total if total else None,
        "errors": errors,
        "latency_ms": generator.percentiles(m),
        "statuses": {str(s): n for s, n in sorted(m.statuses.items())},
        "failures": dict(sorted(m.failures.items())),
    }
    checks = slo.check(slo_settings, results)
    if m.interrupted:
        status = "interrupted"
    else:
        status = "pass" if checks and all(c.passed for c in checks) and ok else "fail"
    return {
        "schema_version": 1,
        "status": status,
        "verdict": ("interrupted: " if m.interrupted else "") + slo.verdict(checks),
        "reasons": [c.text() for c in checks if not c.passed] + ([] if ok else ["no 2xx answer"]),
        "model": {"name": model.get("name"), "version": model.get("version")},
        "service": {"url": target.base, "started": started},
        "load": {
            "mode": plan.mode,
            "clients": plan.clients if plan.mode == "closed" else None,
            "rate_rps": plan.rate,
            "connections": plan.connections if plan.mode == "open" else plan.clients,
            "duration_s": plan.duration,
            "rows_per_request": plan.rows_per_request,
            "rows_source": found.source,
            "distinct_bodies": len(plan.requests),
        },
        "results": results,
        "generator": {
            "cpu_seconds": round(m.cpu_seconds, 3),
            "cpu_percent": round(100 * m.cpu_seconds / m.elapsed, 1),
            "cpu_us_per_request": round(1e6 * m.cpu_seconds / total, 1) if total else None,
            "event_loop": _loop_name(),
        },
        "slo": {**slo_settings, "checks": [c.to_dict() for c in checks]},
        "interrupted": m.interrupted,
        "mlflow_run_id": None,
    }


def _loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def key_metrics(doc: dict[str, Any]) -> dict[str, float]:
    r = doc["results"]
    out = {f"latency_{k}": v for k, v in r["latency_ms"].items()}
    out |= {k: r[k] for k in ("throughput_rps", "ok_per_second", "rows_per_second", "error_rate")}
    out |= {"requests": r["requests"], "passed": 1.0 if doc["status"] == "pass" else 0.0}
    out["generator_cpu_percent"] = doc["generator"]["cpu_percent"]
    return {k: float(v) for k, v in out.items() if isinstance(v, int | float) and math.isfinite(v)}


def record(loaded: Any, workspace: str | None, doc: dict[str, Any], warnings: list[str]) -> str:
    """A ``loadtest`` run in the recipe's experiment, and the version's two tags."""
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.runs import ParentRun
    from mlctl.tracking.workspace import for_recipe

    r = loaded.recipe
    ws = for_recipe(loaded, workspace)
    name, version = str(doc["model"]["name"]), str(doc["model"]["version"])
    tags = {
        "mlctl.kind": "loadtest",
        "mlctl.recipe": str(loaded.path),
        "mlctl.model_name": name,
        "mlctl.model_version": version,
        "mlctl.loadtest.status": doc["status"],
        "mlctl.loadtest.mode": doc["load"]["mode"],
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    with ParentRun(ws, r.tracking.experiment or r.name, f"loadtest-{name}-{stamp}", tags) as run:
        run.log_text(json.dumps(doc, indent=2, allow_nan=False), RESULT_ARTIFACT)
        run.log_metrics(key_metrics(doc))
        run.log_params(
            {k: v for k, v in doc["load"].items() if v is not None and k != "rows_source"}
        )
        run_id = str(run.run_id)
    try:
        client = Registry(ws).client
        client.set_model_version_tag(name, version, LAST_RUN_TAG, run_id)
        client.set_model_version_tag(name, version, LAST_STATUS_TAG, doc["verdict"][:250])
    except Exception as exc:  # the run is logged; the tags point at it
        warnings.append(
            f"version tags not set on {name}/{version} (is it in this workspace's registry?): "
            f"{type(exc).__name__}"
        )
    return run_id
