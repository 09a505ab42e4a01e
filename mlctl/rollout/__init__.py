"""``mlctl rollout``: the challenger rolled out step by step, rolled back on a breach.

- :mod:`~mlctl.rollout.plan` -- the state machine, pure: the plan (``deploy.rollout``
  with the ``deploy.serve.slo`` defaults), the state (tags on the version), the guards
  (a list of small functions) and :func:`~mlctl.rollout.plan.decide`.
- :mod:`~mlctl.rollout.run` -- :func:`~mlctl.rollout.run.rollout`: one evaluation,
  from the registry and the prediction log, applied to the registry, recorded in
  MLflow, alerting on a rollback.

It imports :mod:`mlctl.monitor.alerts` (the recipe's alert channels); nothing imports it
but the CLI.
"""

from __future__ import annotations

from mlctl.rollout.run import RolloutOptions, RolloutResult, rollout

__all__ = ["RolloutOptions", "RolloutResult", "rollout"]
