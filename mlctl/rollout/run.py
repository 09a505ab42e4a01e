"""``mlctl rollout`` as a library call: one evaluation of the recipe's rollout.

:func:`rollout` finds the version rolled out (the ``challenger`` alias; or the
champion a rollout promoted and still watches), reads its numbers since its step
started from the prediction log (every worker's and pod's requests), decides with
:func:`mlctl.rollout.plan.decide`, and applies the decision to the registry: the
rollout's tags (which ``mlctl serve`` polls), a promotion, or a rollback. A change of
state is recorded as an MLflow run (kind ``rollout``) with the version's
``mlctl.rollout.last_run_id`` / ``last_status`` tags, and a rollback fires the recipe's
``monitor.alerts``. A call that changes nothing writes nothing, so it can run from cron
as often as wanted.

It never prints and never exits. The result document (:meth:`RolloutResult.to_dict`,
``schema_version`` 1)::

    {"schema_version": 1, "recipe", "model": {"name", "version", "champion"},
     "action": "start" | "advance" | "await_approval" | "promote" | "finish" |
               "rollback" | "demote" | "hold" | "none",
     "status", "percent", "step", "steps", "reason", "changed",
     "guards": [{"name", "outcome", "detail", "value", "limit"}],
     "numbers": {"variant", "since", "answered", "failed", "slow", "p95_ms", ...} | null,
     "champion_numbers": {...} | null, "run_id", "alerts": [...], "warnings": [...],
     "demotion": null | {"outcome": "demoted" | "kept", "reason", "champion", "previous",
                         "metric", "champion_score", "previous_score", "rows", ...},
     "generated_at"}

With ``deploy.rollout.auto_demote`` each call first judges the latest monitoring
result (:mod:`mlctl.rollout.demote`); a demotion is that call's action.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from mlctl.errors import ExitCode, TrackingError
from mlctl.paths import rollout_lock_path
from mlctl.predlog.schema import default_url
from mlctl.rollout.plan import Decision, Numbers, Plan, State, decide
from mlctl.text import iso_utc
from mlctl.tracking.registry import CHALLENGER, CHAMPION, PROMOTED, ROLLED_BACK

RESULT_ARTIFACT = "rollout/result.json"
LAST_RUN_TAG = "mlctl.rollout.last_run_id"
LAST_STATUS_TAG = "mlctl.rollout.last_status"
LOCK_SECONDS = 300.0  # longest wait for another evaluation of the same model


@dataclass
class RolloutOptions:
    """Choices made on the command line rather than in the recipe."""

    workspace: str | None = None
    approve: bool = False
    log_run: bool = True  # record state changes as MLflow runs
    now: float | None = None  # for tests; default time.time()


@dataclass
class RolloutResult:
    document: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        return self.document["action"]

    @property
    def status(self) -> str | None:
        return self.document["status"]

    @property
    def finished(self) -> bool:
        """Nothing left to watch: done, rolled back, or nothing rolled out."""
        return self.status in (None, "done", ROLLED_BACK)

    @property
    def exit_code(self) -> ExitCode:
        """3 when this call rolled back or demoted, or found a breach it may not act on;
        else 0."""
        breached = any(g["outcome"] == "breach" for g in self.document["guards"])
        moved_back = self.action in ("rollback", "demote")
        return ExitCode.NOT_READY if moved_back or breached else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return self.document


def rollout(loaded: Any, options: RolloutOptions | None = None) -> RolloutResult:
    """One evaluation of the rollout (see the module docstring).

    Raises:
        PredictionLogError: the log cannot be read.
        RegistryError, TrackingError: the registry cannot be used.
    """
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import file_lock, for_recipe, open_existing

    options = options or RolloutOptions()
    ws = for_recipe(loaded, options.workspace)
    open_existing(ws)
    # Two evaluations at once (cron and a --watch, or overlapping cron runs) would both
    # read the same state and both move it: they take turns, the second sees the first's.
    lock = rollout_lock_path(ws.root, loaded.recipe.model_name)
    with file_lock(lock, LOCK_SECONDS, "the rollout lock"):
        return _evaluate(loaded, ws, Registry(ws), options)


def _evaluate(loaded: Any, ws: Any, registry: Any, options: RolloutOptions) -> RolloutResult:
    r = loaded.recipe
    name = r.model_name
    plan = Plan.of(r)
    now = time.time() if options.now is None else options.now
    champion = registry.alias_version(name, CHAMPION)
    url = r.deploy.serve.log.url or default_url(ws.root)
    demotion = None
    if r.deploy.rollout.auto_demote:
        from mlctl.rollout.demote import check_demotion

        demotion = check_demotion(loaded, ws, registry, name, champion, url)
    version, state, variant = _target(registry, name, champion)
    doc: dict[str, Any] = {
        "schema_version": 1,
        "recipe": str(loaded.path),
        "model": {"name": name, "version": version, "champion": champion},
        "steps": list(plan.steps),
        "numbers": None,
        "champion_numbers": None,
        "run_id": None,
        "alerts": [],
        "warnings": [],
        "demotion": demotion,
    }
    result = RolloutResult(doc)
    if demotion is not None and demotion["outcome"] == "demoted":
        doc["model"].update(version=champion, champion=demotion["previous"])
        _fill(doc, Decision("demote", State("demoted", -1, 0.0, now), demotion["reason"]), now)
        _after_change(loaded, ws, registry, name, champion, doc["action"], result, options)
        return result
    if version is None:
        _fill(doc, Decision("none", State(), "no challenger to roll out"), now)
        return result
    numbers = None
    if state.status not in (None, "done", ROLLED_BACK):
        since = state.step_started if state.step_started is not None else now
        stats, champ = _read(url, name, version, variant, champion, since, now, plan.p95_ms)
        doc["numbers"] = {**stats.to_dict(), "since": iso_utc(since)}
        if champ is not None:
            doc["champion_numbers"] = {**champ.to_dict(), "since": iso_utc(since)}
        numbers = Numbers(
            stats.answered, stats.failed, stats.slow, stats.p95_ms, stats.failures_recorded
        )
    verdict = None
    if plan.ab_verdict and state.status not in (None, "done", ROLLED_BACK):
        verdict = ab_verdict(
            loaded, options.workspace, champion, version, state.step_started or now, now
        )
    decision = decide(plan, state, numbers or Numbers(), now, options.approve, verdict)
    _fill(doc, decision, now)
    if decision.changed:
        from mlctl import interrupts

        with interrupts.deferred():  # tags, alias and history move together
            _apply(registry, name, version, state, decision, plan)
        _after_change(loaded, ws, registry, name, version, decision.action, result, options)
    return result


def ab_verdict(
    loaded: Any,
    workspace: str | None,
    champion: int | None,
    version: int,
    since: float,
    now: float,
) -> str | None:
    """The ``ab_verdict`` guard's input: ``mlctl compare``'s verdict on ``version``
    against ``champion`` from the labelled production traffic logged since ``since``
    (the step's start, epoch seconds): "better", "worse" or "unknown"; None when there
    is no comparison to make (no champion, the version is the champion itself, or the
    log cannot be read: the other guards report that)."""
    if champion is None or champion == version:
        return None
    from mlctl.compare import compare
    from mlctl.errors import CompareCannotRun
    from mlctl.monitor.window import Window

    try:
        result = compare(
            loaded,
            Window(since, max(now, since) + 1.0),
            workspace=workspace,
            champion_version=champion,
            challenger_version=version,
            log_run=False,
        )
    except CompareCannotRun:
        return None
    return result.verdict


def _target(registry: Any, name: str, champion: int | None) -> tuple[int | None, State, str]:
    """The version rolled out, its state, and the variant its requests are logged as:
    the champion while a promoted rollout is watched, else the challenger."""
    if champion is not None:
        state = State.of(registry.version_tags(name, champion))
        if state.status == PROMOTED:
            return champion, state, "champion"
    challenger = registry.alias_version(name, CHALLENGER)
    if challenger is None:
        return None, State(), "challenger"
    return challenger, State.of(registry.version_tags(name, challenger)), "challenger"


def _read(
    url: str,
    name: str,
    version: int,
    variant: str,
    champion: int | None,
    since: float,
    now: float,
    slow_ms: float | None,
) -> tuple[Any, Any]:
    from mlctl.predlog import open_reader
    from mlctl.predlog.stats import variant_stats

    until = now + 1.0  # rows stamped this second count
    with open_reader(url) as reader:
        stats = variant_stats(reader, name, version, variant, since, until, slow_ms)
        champ = None
        if variant == "challenger" and champion is not None:
            champ = variant_stats(reader, name, champion, "champion", since, until, slow_ms)
    return stats, champ


def _fill(doc: dict[str, Any], decision: Decision, now: float) -> None:
    s = decision.state
    doc.update(
        {
            "action": decision.action,
            "changed": decision.changed,
            "status": s.status,
            "percent": s.percent,
            "step": s.step,
            "step_started": iso_utc(s.step_started, "seconds") if s.step_started else None,
            "reason": decision.reason,
            "guards": [g.to_dict() for g in decision.guards],
            "generated_at": iso_utc(now, "seconds"),
        }
    )


def _apply(
    registry: Any, name: str, version: int, before: State, decision: Decision, plan: Plan
) -> None:
    """The decision in the registry; the tags last, so a server sees a consistent pair."""
    action, after = decision.action, decision.state
    reason = f"rollout: {decision.reason}"
    if action == "rollback" and before.status == PROMOTED:
        registry.rollback(name, reason)  # champion back; mlctl.rolled_back on this version
        registry.set_version_tags(name, version, after.tags())
        return
    if action == "rollback":
        registry.withdraw_challenger(name, version, reason)
        registry.set_version_tags(name, version, after.tags())
        return
    if action == "promote":
        # The promotion first: if it is refused (a failed gate, files that changed),
        # the rollout stays where it was and the error says why.
        registry.promote(name, version, reason=reason)
        registry.set_version_tags(name, version, after.tags())
        return
    registry.set_version_tags(name, version, after.tags())


def _after_change(
    loaded: Any,
    ws: Any,
    registry: Any,
    name: str,
    version: int,
    action: str,
    result: RolloutResult,
    options: RolloutOptions,
) -> None:
    """Alerts on a rollback or a demotion, and the MLflow record of the change."""
    doc = result.document
    if action in ("rollback", "demote"):
        doc["alerts"] = _alert(loaded, doc)
        result.warnings += [
            f"alert {a['kind']} {a['target']} failed: {a['detail']}"
            for a in doc["alerts"]
            if not a["ok"]
        ]
    if options.log_run:
        try:
            doc["run_id"] = _log_run(loaded, ws, registry, name, version, doc)
        except TrackingError as exc:
            result.warnings.append(f"the rollout run was not logged to MLflow: {exc.message}")
    doc["warnings"] = list(result.warnings)


def _alert(loaded: Any, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The recipe's ``monitor.alerts`` (webhook, command) with the rollback's reason;
    the command gets the result document in a temporary file."""
    from mlctl.monitor.alerts import send_alerts, should_alert

    settings = loaded.recipe.monitor.alerts
    if not should_alert(settings, "attention"):
        return []
    body = {**doc, "status": "attention", "reasons": [doc["reason"]], "kind": "rollout"}
    fd, path = tempfile.mkstemp(prefix="mlctl-rollout-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=2, default=str)
        return [o.to_dict() for o in send_alerts(settings, body, path, None)]
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def last_status(doc: dict[str, Any]) -> str:
    """The short verdict a person reads on the version (``mlctl.rollout.last_status``)."""
    return f"{doc['status']} at {doc['percent']:g} %: {doc['reason']}"[:500]


def _log_run(
    loaded: Any, ws: Any, registry: Any, name: str, version: int, doc: dict[str, Any]
) -> str:
    """A rollout run in the recipe's experiment, linked to the model version."""
    from datetime import UTC, datetime

    from mlctl.tracking.runs import ParentRun

    r = loaded.recipe
    tags = {
        "mlctl.kind": "rollout",
        "mlctl.recipe": str(loaded.path),
        "mlctl.model_name": name,
        "mlctl.model_version": str(version),
        "mlctl.rollout.action": doc["action"],
        "mlctl.rollout.status": doc["status"] or "",
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    with ParentRun(ws, r.tracking.experiment or r.name, f"rollout-{name}-{stamp}", tags) as run:
        run.log_text(json.dumps(doc, indent=2, default=str), RESULT_ARTIFACT)
        run.log_metrics(key_metrics(doc))
        run_id = run.run_id
    with contextlib.suppress(Exception):  # the run is logged; a tag is a convenience
        registry.set_version_tags(
            name, version, {LAST_RUN_TAG: run_id, LAST_STATUS_TAG: last_status(doc)}
        )
    return run_id


def key_metrics(doc: dict[str, Any]) -> dict[str, float]:
    out: dict[str, Any] = {"percent": doc["percent"], "step": doc["step"]}
    numbers = doc.get("numbers") or {}
    for key in ("answered", "failed", "slow", "p95_ms"):
        out[key] = numbers.get(key)
    for g in doc["guards"]:
        out[f"guard_{g['name']}"] = g.get("value")
    return {k: float(v) for k, v in out.items() if isinstance(v, int | float)}
