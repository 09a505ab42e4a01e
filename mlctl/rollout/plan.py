"""The rollout's state machine, pure: given the plan, the state, the challenger's
numbers since its step started and the time, what to do next.

Statuses (the ``mlctl.rollout.status`` tag of the version rolled out)::

    (none) --start--> running --advance--> running ... --last step--> awaiting_approval
                         |                                  |             | --approve-->
                         |                                  +--(approval: auto)--+
                         +--breach--> rolled_back                                v
                                                        rolled_back <--breach-- promoted --> done

A step goes on when the challenger answered ``min_requests`` in it, ``min_minutes``
passed and every guard is within its limit. A guard is *breached* when the numbers
show, beyond chance, that the limit is exceeded: the share of bad requests (errors for
the error-rate guard, requests slower than ``p95_ms`` for the latency guard, whose limit
share is 5 %) is tested against the limit with an exact one-sided binomial test at
:data:`ALPHA`. Between the two (over the limit, not yet beyond chance) the step holds.
So one slow request among few does not roll back, and two errors in the first two
requests do.

After the promotion the new champion is watched for one more step (``min_requests``
at 100 % and ``min_minutes``): a breach then moves the champion back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from mlctl.tracking.registry import (
    AWAITING_APPROVAL,
    DONE,
    PROMOTED,
    ROLLED_BACK,
    ROLLOUT_PERCENT_TAG,
    ROLLOUT_STARTED_TAG,
    ROLLOUT_STATUS_TAG,
    ROLLOUT_STEP_TAG,
    RUNNING,
)

ALPHA = 0.001  # a challenger exactly at a limit is rolled back by one evaluation this rarely
P95_SHARE = 0.05  # the latency guard: at most 5 % of requests slower than p95_ms

# Guard outcomes.
OK = "ok"  # within the limit (or nothing to judge yet that could block)
WATCH = "watch"  # over the limit, not yet beyond chance: the step holds
BREACH = "breach"  # over the limit beyond chance: roll back
NOT_CHECKED = "not_checked"  # the guard is off or cannot be judged; never blocks


@dataclass(frozen=True)
class Plan:
    """``deploy.rollout`` with the guards' limits resolved against ``deploy.serve.slo``."""

    steps: tuple[float, ...]
    min_requests: int
    min_minutes: float
    max_error_rate: float
    p95_ms: float | None
    ab_verdict: bool
    auto_rollback: bool
    approval: str  # "required" | "auto"

    @classmethod
    def of(cls, recipe: Any) -> Plan:
        ro, slo = recipe.deploy.rollout, recipe.deploy.serve.slo
        g = ro.guards
        return cls(
            tuple(ro.steps),
            ro.min_requests,
            ro.min_minutes,
            g.max_error_rate if g.max_error_rate is not None else slo.max_error_rate,
            g.p95_ms if g.p95_ms is not None else slo.p95_ms,
            g.ab_verdict,
            ro.auto_rollback,
            ro.approval,
        )


@dataclass(frozen=True)
class State:
    """A rollout's state as its tags hold it (``status`` None: not started)."""

    status: str | None = None
    step: int = -1
    percent: float = 0.0
    step_started: float | None = None  # epoch seconds

    @classmethod
    def of(cls, tags: dict[str, str]) -> State:
        status = tags.get(ROLLOUT_STATUS_TAG)
        if status is None:
            return cls()
        started = tags.get(ROLLOUT_STARTED_TAG)
        try:
            when = datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
        except (AttributeError, ValueError):
            when = None
        return cls(
            status,
            _int(tags.get(ROLLOUT_STEP_TAG), -1),
            _float(tags.get(ROLLOUT_PERCENT_TAG), 0.0),
            when,
        )

    def tags(self) -> dict[str, str]:
        started = (
            datetime.fromtimestamp(self.step_started, UTC).isoformat(timespec="seconds")
            if self.step_started is not None
            else ""
        )
        return {
            ROLLOUT_STATUS_TAG: self.status or "",
            ROLLOUT_PERCENT_TAG: f"{self.percent:g}",
            ROLLOUT_STEP_TAG: str(self.step),
            ROLLOUT_STARTED_TAG: started.replace("+00:00", "Z"),
        }


@dataclass(frozen=True)
class Numbers:
    """What the log says about the version rolled out since its step started."""

    answered: int = 0
    failed: int = 0
    slow: int = 0  # answered slower than the plan's p95_ms
    p95_ms: float | None = None
    failures_recorded: bool = True

    @property
    def requests(self) -> int:
        return self.answered + self.failed


@dataclass(frozen=True)
class GuardResult:
    name: str
    outcome: str  # OK | WATCH | BREACH | NOT_CHECKED
    detail: str  # one line with the numbers
    value: float | None = None
    limit: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Decision:
    """What one evaluation decided. ``state`` is the state after it (the same object
    when nothing changes); ``action`` is one of :data:`ACTIONS`."""

    action: str
    state: State
    reason: str
    guards: list[GuardResult] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.action not in ("hold", "none")


ACTIONS = ("start", "advance", "await_approval", "promote", "finish", "rollback", "hold", "none")
# (``mlctl.rollout.run`` adds "demote": auto-demotion, decided in mlctl.rollout.demote.)


# --------------------------------------------------------------------- guards


def over_limit_p_value(bad: int, n: int, limit: float) -> float:
    """P(at least ``bad`` of ``n`` requests are bad | the true share is ``limit``): the
    exact one-sided binomial tail. 1 when there is nothing bad."""
    if bad <= 0 or n <= 0:
        return 1.0
    if limit <= 0:
        return 0.0
    if limit >= 1:
        return 1.0
    from scipy.special import betainc

    return float(betainc(bad, n - bad + 1, limit))  # = binom.sf(bad - 1, n, limit)


def _share_guard(name: str, bad: int, n: int, limit: float, detail: str) -> GuardResult:
    share = bad / n if n else 0.0
    if n and over_limit_p_value(bad, n, limit) < ALPHA:
        outcome = BREACH
    elif share > limit:
        outcome = WATCH
    else:
        outcome = OK
    return GuardResult(name, outcome, detail, share, limit)


def error_rate_guard(plan: Plan, numbers: Numbers, verdict: str | None) -> GuardResult:
    """Errors (5xx, 422 UNSCORABLE_INPUT) among the requests of the step."""
    limit = plan.max_error_rate
    if not numbers.failures_recorded:
        return GuardResult(
            "error_rate",
            NOT_CHECKED,
            "the prediction log has no failures table yet (a server older than the rollout)",
            None,
            limit,
        )
    n, bad = numbers.requests, numbers.failed
    share = bad / n if n else 0.0
    detail = f"error rate {100 * share:.2f} % ({bad} of {n} requests), limit {100 * limit:g} %"
    return _share_guard("error_rate", bad, n, limit, detail)


def latency_guard(plan: Plan, numbers: Numbers, verdict: str | None) -> GuardResult:
    """Requests slower than ``p95_ms``: at most 5 % of them (the 95th percentile)."""
    if plan.p95_ms is None:
        return GuardResult("p95_ms", NOT_CHECKED, "no latency guard (slo.p95_ms is null)")
    n, slow = numbers.answered, numbers.slow
    p95 = "n/a" if numbers.p95_ms is None else f"{numbers.p95_ms:.1f} ms"
    detail = (
        f"p95 {p95}, limit {plan.p95_ms:g} ms ({slow} of {n} requests slower than "
        f"{plan.p95_ms:g} ms)"
    )
    result = _share_guard("p95_ms", slow, n, P95_SHARE, detail)
    return replace(result, value=numbers.p95_ms, limit=plan.p95_ms)


def ab_verdict_guard(plan: Plan, numbers: Numbers, verdict: str | None) -> GuardResult:
    """``mlctl compare``'s verdict on labelled traffic since the step began (see
    :func:`mlctl.rollout.run.ab_verdict`): "worse" rolls back, "better" holds, anything
    else (too few labels) is not checked."""
    if not plan.ab_verdict:
        return GuardResult("ab_verdict", NOT_CHECKED, "off (deploy.rollout.guards.ab_verdict)")
    if verdict is None:
        return GuardResult("ab_verdict", NOT_CHECKED, "no A/B verdict available")
    if verdict == "worse":
        return GuardResult("ab_verdict", BREACH, "mlctl compare: the challenger is worse")
    if verdict == "better":
        return GuardResult("ab_verdict", OK, "mlctl compare: the challenger is better")
    return GuardResult("ab_verdict", NOT_CHECKED, f"mlctl compare: {verdict.replace('_', ' ')}")


Guard = Callable[[Plan, Numbers, str | None], GuardResult]
GUARDS: list[Guard] = [error_rate_guard, latency_guard, ab_verdict_guard]


def judge(plan: Plan, numbers: Numbers, verdict: str | None = None) -> list[GuardResult]:
    return [guard(plan, numbers, verdict) for guard in GUARDS]


# ---------------------------------------------------------------------- decide


def decide(
    plan: Plan,
    state: State,
    numbers: Numbers,
    now: float,
    approve: bool = False,
    verdict: str | None = None,
) -> Decision:
    """The next move of a rollout (see the module docstring)."""
    if state.status is None:
        if plan.steps[0] >= 100:
            return _to_last(plan, state, now, approve, "the only step is 100 %", [])
        first = State(RUNNING, 0, plan.steps[0], now)
        return Decision("start", first, f"started at {plan.steps[0]:g} %")
    if state.status in (DONE, ROLLED_BACK):
        return Decision("none", state, f"the rollout is {state.status.replace('_', ' ')}")
    guards = judge(plan, numbers, verdict)
    breached = [g for g in guards if g.outcome == BREACH]
    if breached:
        reason = "; ".join(g.detail for g in breached)
        if not plan.auto_rollback:
            return Decision("hold", state, f"guard breached (auto_rollback off): {reason}", guards)
        where = "after the promotion" if state.status == PROMOTED else f"at {state.percent:g} %"
        gone = State(ROLLED_BACK, state.step, 0.0, now)
        return Decision("rollback", gone, f"rolled back {where}: {reason}", guards)
    waiting = _waiting(plan, state, numbers, now, guards)
    if state.status == AWAITING_APPROVAL:
        if approve or plan.approval == "auto":
            return _promote(plan, state, now, "approved" if approve else "approval: auto", guards)
        return Decision("hold", state, "waiting for approval (mlctl rollout --approve)", guards)
    if waiting:
        return Decision("hold", state, "waiting: " + "; ".join(waiting), guards)
    if state.status == PROMOTED:
        done = State(DONE, state.step, 100.0, state.step_started)
        return Decision("finish", done, "watched at 100 % without a breach: done", guards)
    nxt = state.step + 1
    if nxt >= len(plan.steps) - 1:
        return _to_last(plan, state, now, approve, f"{state.percent:g} % held", guards)
    moved = State(RUNNING, nxt, plan.steps[nxt], now)
    return Decision(
        "advance", moved, f"{state.percent:g} % held: now {plan.steps[nxt]:g} %", guards
    )


def _waiting(
    plan: Plan, state: State, numbers: Numbers, now: float, guards: list[GuardResult]
) -> list[str]:
    """What the step still needs before it may go on (empty: nothing)."""
    out = []
    if numbers.answered < plan.min_requests:
        out.append(f"{numbers.answered} of {plan.min_requests} requests answered")
    elapsed = (now - state.step_started) / 60 if state.step_started is not None else 0.0
    if elapsed < plan.min_minutes:
        out.append(f"{elapsed:.1f} of {plan.min_minutes:g} minutes")
    out += [
        f"{g.detail} (over the limit, not yet beyond chance)" for g in guards if g.outcome == WATCH
    ]
    return out


def _to_last(
    plan: Plan, state: State, now: float, approve: bool, why: str, guards: list[GuardResult]
) -> Decision:
    """The step to 100 %: a promotion, after approval unless ``approval: auto``."""
    if approve or plan.approval == "auto":
        return _promote(
            plan, state, now, f"{why}; " + ("approved" if approve else "approval: auto"), guards
        )
    waiting = State(AWAITING_APPROVAL, state.step, state.percent, state.step_started or now)
    return Decision(
        "await_approval",
        waiting,
        f"{why}: promotion to 100 % waits for approval (mlctl rollout --approve)",
        guards,
    )


def _promote(plan: Plan, state: State, now: float, why: str, guards: list[GuardResult]) -> Decision:
    promoted = State(PROMOTED, len(plan.steps) - 1, 100.0, now)
    return Decision("promote", promoted, f"promoted to 100 % ({why})", guards)


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _float(text: str | None, default: float) -> float:
    try:
        return float(text) if text is not None else default
    except ValueError:
        return default
