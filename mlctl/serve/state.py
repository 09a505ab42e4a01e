"""What a server process holds: the models, their batchers, the log, the metrics.

The served model is swapped by replacing one attribute: a request reads
``state.champion`` once and finishes on that object, so in-flight requests end on the
old version while new ones use the new one.

A version that fails to load is refused, never served, and tried again: after a
transient error (download, registry) with back-off (1 s doubling to 60 s); after a
refused artifact (SHA-256 mismatch, failed smoke batch) every 5 minutes, and at once
when the alias moves to it again or on ``POST /admin/reload``. ``/ready`` lists the
refused versions and when they are retried; the server log says each refusal and retry.

A gradual rollout (``mlctl rollout``, docs/operations.md) keeps its state as tags on
the challenger version in the registry: at each poll the server reads them
(:meth:`~mlctl.tracking.registry.Registry.rollout_share`) and, while a rollout runs,
sends the rollout's share of the traffic to the challenger instead of
``deploy.serve.traffic.challenger_percent``. Every process and pod reads the same
registry, so they all follow the rollout within one ``poll_seconds``.

The console gets one line for every swap (role, version from → to), every refusal,
every change of the rollout's split and when the challenger goes away (a rollback or a
promotion removes its alias).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mlctl.errors import RegistryError
from mlctl.predlog import PredictionLog
from mlctl.recipe.schema import Serve
from mlctl.serve import transport
from mlctl.serve.batcher import MicroBatcher
from mlctl.serve.inputs import Columns
from mlctl.serve.metrics import Metrics
from mlctl.serve.model import ModelLoadError, Scored, ServedModel, load_model
from mlctl.tracking.artifacts import ModelUnreadable

# Set by the server when it receives SIGTERM/SIGINT: /ready answers 503 from then on.
SHUTTING_DOWN = threading.Event()

logger = logging.getLogger("mlctl.serve")

RETRY_FIRST = 1.0  # seconds before a version that failed transiently is tried again
RETRY_MAX = 60.0  # the back-off doubles up to this
RETRY_REFUSED = 300.0  # a refused artifact (SHA-256, smoke batch): tried again this often
RETIRE_WAIT = 30.0  # the most an old version's batcher waits for its requests
RETIRE_GRACE = 0.5  # ... and for requests that chose it just before the swap
LATENCY_SHARE = 0.5  # of the request timeout: how long the queued rows may take to score


@dataclass
class Refusal:
    """Why a version was not loaded, and when it is tried again."""

    error: str
    transient: bool  # a download or registry error, not the artifact itself
    attempts: int = 1
    retry_at: float = 0.0  # time.monotonic()

    @classmethod
    def of(cls, exc: BaseException, before: Refusal | None) -> Refusal:
        transient = isinstance(exc, ModelUnreadable) or not isinstance(
            exc, RegistryError | ModelLoadError
        )
        attempts = before.attempts + 1 if before is not None else 1
        delay = min(RETRY_MAX, RETRY_FIRST * 2 ** (attempts - 1)) if transient else RETRY_REFUSED
        return cls(_short(exc), transient, attempts, time.monotonic() + delay)

    def due(self) -> bool:
        return time.monotonic() >= self.retry_at

    def describe(self, role: str, version: int) -> dict[str, Any]:
        return {
            "role": role,
            "version": version,
            "error": self.error,
            "transient": self.transient,
            "attempts": self.attempts,
            "retry_in_seconds": round(max(0.0, self.retry_at - time.monotonic()), 1),
        }


@dataclass
class Slot:
    """A loaded model and the batcher in front of it."""

    model: ServedModel
    batcher: MicroBatcher


def split_scored(result: Scored, start: int, stop: int) -> Scored:
    return Scored(
        result.predictions[start:stop],
        None if result.probabilities is None else result.probabilities[start:stop],
        result.scores[start:stop],
    )


@dataclass
class ServeState:
    """Everything one server process shares between requests."""

    settings: Serve
    model_name: str
    alias: str
    registry: Any
    log: PredictionLog
    metrics: Metrics
    id_column: str | None = None
    positive: Any = None
    api_key: str | None = None
    fixed_version: int | None = None
    monitoring_file: str | None = None  # the latest `mlctl monitor` result of this model
    champion: Slot | None = None
    challenger: Slot | None = None
    loading: bool = True
    draining: bool = False
    load_error: str | None = None  # why the last (re)load failed, if it did
    started: float = field(default_factory=time.time)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="mlctl-score")
    )
    loader: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="mlctl-load")
    )
    cache: Any = None
    # Versions that failed to load, by (role, version); retried (see Refusal).
    refused: dict[tuple[str, int], Refusal] = field(default_factory=dict)
    _alias_seen: dict[str, int | None] = field(default_factory=dict)  # at the last poll
    # The challenger's share while a rollout runs (None: traffic.challenger_percent).
    rollout_percent: float | None = None
    _poller: asyncio.Task | None = None

    def __post_init__(self) -> None:
        # A commit slower than a request may wait makes the log "not writable" (/ready).
        self.log.stall_seconds = self.settings.request_timeout_seconds
        refused = self.metrics.receive_refused
        transport.on_refused = lambda reason: refused.labels(reason).inc()

    # ------------------------------------------------------------------ models
    def slot(self, model: ServedModel) -> Slot:
        s = self.settings
        batcher = MicroBatcher(
            model.score,
            split_scored,
            max_rows=s.batch_max_rows,
            max_wait_ms=s.batch_wait_ms,
            # Admission by rows: what the model can score within half the request
            # timeout (the other half is for the log and the network); the row count
            # only bounds memory (every client of a busy server with a full request).
            max_queued_rows=max(20 * s.batch_max_rows, 64 * s.max_batch_rows),
            latency_budget=LATENCY_SHARE * s.request_timeout_seconds,
            on_batch=lambda rows, requests, seconds: self.metrics.batch_rows.observe(rows),
            executor=self.executor,
        )
        return Slot(model, batcher)

    async def load_initial(self) -> None:
        """Load the champion (and the challenger if traffic needs one); never raises."""
        await self.reload()
        self.loading = False
        _freeze_heap()

    async def reload(self, retry_refused: bool = False) -> dict[str, Any]:
        """Load the versions the aliases point at, if they moved; keep the old on failure.

        A version that failed to load is not tried again at every poll but when its
        back-off is over, when the alias moves to it again, or when asked
        (``retry_refused``, e.g. POST /admin/reload); see :class:`Refusal`.
        """
        changes: dict[str, Any] = {}
        wanted = [("champion", self.alias)]
        share = await self._rollout_share()
        if share is not None or self.challenger is not None or self._wants_challenger():
            wanted.append(("challenger", "challenger"))
        for role, alias in wanted:
            current: Slot | None = getattr(self, role)
            try:
                if role == "champion" and self.fixed_version is not None:
                    version = self.fixed_version
                elif role == "challenger" and share is not None:
                    version = share.version
                else:
                    version = await self._run(self.registry.alias_version, self.model_name, alias)
            except Exception as exc:
                self._failed(role, f"registry unavailable: {_short(exc)}")
                continue
            if role == "challenger" and not self._wants_challenger():
                version = None  # no share and no shadow: not loaded (and unloaded)
            if version is None:
                if role == "champion" and current is None:
                    self._failed(role, f"model '{self.model_name}' has no alias '{alias}'")
                if role == "challenger" and current is not None:
                    # The alias was removed (a promotion or a rollback): stop splitting.
                    self.challenger = None
                    changes[role] = {"from": current.model.version, "to": None}
                    logger.warning(
                        "mlctl serve: challenger %s: version %s -> none (%s)",
                        self.model_name,
                        current.model.version,
                        "its share of the traffic is 0"
                        if version is not None or (share is not None and share.version)
                        else "the challenger alias was removed: promoted or rolled back",
                    )
                    asyncio.get_running_loop().create_task(self._retire(current))
                self._alias_seen[role] = None
                continue
            moved = self._alias_seen.get(role, -1) != version
            self._alias_seen[role] = version
            if current is not None and current.model.version == version:
                continue
            before = self.refused.get((role, version))
            if before is not None and not (retry_refused or moved or before.due()):
                continue
            model = await self._load(role, version, before)
            if model is None:
                continue
            model.aliases = sorted(set(model.aliases) | {alias})
            old = current
            setattr(self, role, self.slot(model))  # the switch: one attribute
            self.load_error = None
            changes[role] = {"from": old.model.version if old else None, "to": version}
            logger.warning(
                "mlctl serve: %s %s: version %s -> %s",
                role,
                self.model_name,
                old.model.version if old else "none",
                version,
            )
            if not self.loading:
                _freeze_heap()
            if old is not None:
                asyncio.get_running_loop().create_task(self._retire(old))
        self.metrics_split()
        return changes

    def _wants_challenger(self) -> bool:
        traffic = self.settings.traffic
        share = traffic.challenger_percent if self.rollout_percent is None else self.rollout_percent
        return share > 0 or traffic.shadow

    async def _rollout_share(self) -> Any:
        """The challenger alias and its rollout tags (one registry read); sets
        :attr:`rollout_percent` and logs a change of the split. None when the registry
        cannot tell (a stand-in registry without rollouts, an outage: the last share
        stays)."""
        read = getattr(self.registry, "rollout_share", None)
        if read is None:
            return None
        try:
            share = await self._run(read, self.model_name)
        except Exception as exc:
            self._failed("challenger", f"registry unavailable: {_short(exc)}")
            return None
        if share.percent != self.rollout_percent:
            if share.percent is not None:
                logger.warning(
                    "mlctl serve: rollout of %s version %s (%s): the challenger gets %g %% "
                    "of the traffic",
                    self.model_name,
                    share.version,
                    share.status,
                    share.percent,
                )
            else:
                logger.warning(
                    "mlctl serve: the rollout of %s ended (%s): the challenger gets "
                    "deploy.serve.traffic.challenger_percent (%g %%)",
                    self.model_name,
                    share.status or "challenger alias removed",
                    self.settings.traffic.challenger_percent,
                )
            self.rollout_percent = share.percent
        return share

    def metrics_split(self) -> None:
        """The challenger's share as a gauge (when the metrics have one)."""
        gauge = getattr(self.metrics, "challenger_share", None)
        if gauge is not None:
            share = self.rollout_percent
            if share is None:
                share = self.settings.traffic.challenger_percent
            gauge.set(share / 100.0 if self.challenger is not None else 0.0)

    async def _load(self, role: str, version: int, before: Refusal | None) -> ServedModel | None:
        """Load and check one version; on failure record why and when to retry."""
        reference = f"{self.model_name}/{version}"
        if before is not None:
            self.metrics.model_load_retries.labels(role).inc()
            logger.warning("mlctl serve: trying %s (%s) again", reference, role)
        try:
            model = await self._run(load_model, self.registry, reference, self.positive)
        except Exception as exc:
            refusal = Refusal.of(exc, before)
            self.refused[(role, version)] = refusal
            self._failed(role, f"{reference} was not loaded: {refusal.error}")
            when = (
                f"retrying in {refusal.retry_at - time.monotonic():.0f} s"
                if refusal.transient
                else "retried when the alias moves to it again, on POST /admin/reload, "
                f"or in {RETRY_REFUSED:.0f} s"
            )
            logger.warning("mlctl serve: %s was not loaded: %s; %s", reference, refusal.error, when)
            return None
        if self.refused.pop((role, version), None) is not None:
            logger.warning("mlctl serve: %s (%s) loaded after an earlier failure", reference, role)
        return model

    def _failed(self, role: str, message: str) -> None:
        self.load_error = message
        self.metrics.model_load_failures.labels(role).inc()

    async def _retire(self, old: Slot) -> None:
        """Let requests queued on an old version, or being scored by it, finish (and
        those that chose it just before the swap), then stop its batcher. Waiting for
        an empty queue alone stopped it under a batch still on the scoring thread, whose
        requests got 503 OVERLOADED."""
        deadline = time.monotonic() + RETIRE_WAIT
        while time.monotonic() < deadline:
            if old.batcher.idle:
                await asyncio.sleep(RETIRE_GRACE)
                if old.batcher.idle:
                    break
            else:
                await asyncio.sleep(0.05)
        await old.batcher.stop()

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.loader, fn, *args)

    def start_polling(self) -> None:
        # A pinned version polls no alias, but still retries its own failed load.
        if self.settings.poll_seconds > 0 and self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._next_poll())
            with contextlib.suppress(Exception):
                await self.reload()

    def _next_poll(self) -> float:
        """The poll interval, or sooner when a refused version's retry is due."""
        wait = self.settings.poll_seconds
        for _, refusal in self.pending():
            wait = min(wait, max(0.2, refusal.retry_at - time.monotonic()))
        return wait

    def pending(self) -> list[tuple[tuple[str, int], Refusal]]:
        """Refused versions an alias still points at (the others wait for it to come
        back), in role and version order."""
        return sorted(
            (key, r) for key, r in self.refused.items() if self._alias_seen.get(key[0]) == key[1]
        )

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for slot in (self.champion, self.challenger):
            if slot is not None:
                await slot.batcher.stop()
        if self.cache is not None:
            with contextlib.suppress(Exception):
                await self.cache.close()
        await asyncio.get_running_loop().run_in_executor(None, self.log.close)
        self.executor.shutdown(wait=False)
        self.loader.shutdown(wait=False)

    # ----------------------------------------------------------------- routing
    def choose(self, batch: Columns, records: list[dict[str, Any]]) -> tuple[Slot, str]:
        """The slot that answers this request and its variant name."""
        assert self.champion is not None
        traffic = self.settings.traffic
        percent = (
            traffic.challenger_percent if self.rollout_percent is None else self.rollout_percent
        )
        if self.challenger is None or percent <= 0:
            return self.champion, "champion"
        if traffic.sticky_key and records and traffic.sticky_key in records[0]:
            key = str(records[0][traffic.sticky_key]).encode()
            draw = (zlib.crc32(key) % 10_000) / 100.0
        else:
            draw = random.random() * 100.0
        if draw < percent:
            return self.challenger, "challenger"
        return self.champion, "champion"

    def ready(self) -> tuple[bool, dict[str, Any]]:
        detail: dict[str, Any] = {
            "model_loaded": self.champion is not None,
            "loading": self.loading,
            "log_writable": self.log.healthy(),
            "draining": self.draining,
            "worker_pid": os.getpid(),  # which worker process answered
        }
        if self.champion is not None:
            detail["model"] = {"name": self.model_name, "version": self.champion.model.version}
        if self.challenger is not None:
            detail["challenger"] = {"version": self.challenger.model.version}
            if self.rollout_percent is not None:
                detail["challenger"]["rollout_percent"] = self.rollout_percent
        if self.load_error:
            detail["last_load_error"] = self.load_error
        pending = self.pending()
        if pending:
            detail["refused_versions"] = [r.describe(*key) for key, r in pending]
        if not detail["log_writable"] and self.log.last_error:
            detail["last_log_error"] = self.log.last_error
        detail["draining"] = self.draining = self.draining or SHUTTING_DOWN.is_set()
        ok = (
            detail["model_loaded"]
            and detail["log_writable"]
            and not self.draining
            and not self.loading  # ready once every model the traffic needs was tried
        )
        return ok, detail


GC_YOUNG_THRESHOLD = 10_000  # allocations between young collections (Python's default: 700)


def _freeze_heap() -> None:
    """Move the loaded model's ~400,000 objects out of the garbage collector's sight:
    full collections over them took up to 400 ms under load (the p99 tail). Young
    collections are made rarer too: a request allocates thousands of short-lived
    objects, and with the default threshold the collector ran every few requests."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
