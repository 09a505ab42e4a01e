"""Telling someone: a webhook POST and/or a command, after a monitoring run.

An alert that fails (a non-2xx answer, a network error, a timeout, a command that
exits non-zero or cannot start) is recorded in the result's ``alerts`` list and
reported as a warning; it never fails the run, whose verdict stands.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

USER_AGENT = "mlctl-monitor"
MAX_BODY_SHOWN = 200  # characters of an error answer kept in the result


@dataclass
class AlertOutcome:
    """What one alert did. ``ok`` is False when it failed; ``detail`` says why."""

    kind: str  # "webhook" | "command"
    target: str  # the URL without credentials or query, or the program
    ok: bool
    detail: str
    status: int | None = None  # HTTP status, or the command's exit code
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "ok": self.ok,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


def alert_body(document: dict[str, Any], report: str | None) -> dict[str, Any]:
    """The webhook's JSON body: what a person needs to decide what to do."""
    return {
        "status": document.get("status"),
        "reasons": list(document.get("reasons", [])),
        "recipe": document.get("recipe"),
        "model": document.get("model"),
        "window": document.get("window"),
        "source": document.get("source"),
        "report": report,
        "generated_at": document.get("generated_at"),
    }


def safe_target(url: str) -> str:
    """A webhook URL fit for logs: no user:password, no query (tokens live there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def post_webhook(url: str, body: dict[str, Any], timeout: float) -> AlertOutcome:
    """POST ``body`` as JSON to ``url``; any 2xx is success."""
    target = safe_target(url)
    data = json.dumps(body, allow_nan=False, default=str).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("User-Agent", USER_AGENT)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:  # noqa: S310 (http/https checked)
            status = res.status
            text = res.read(MAX_BODY_SHOWN).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        text = err.read(MAX_BODY_SHOWN).decode("utf-8", "replace") if err.fp else ""
        return AlertOutcome(
            "webhook",
            target,
            False,
            f"HTTP {err.code} {err.reason}" + (f": {text.strip()}" if text.strip() else ""),
            err.code,
            time.monotonic() - started,
        )
    except (TimeoutError, urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            detail = f"no answer within {timeout:g} s"
        else:
            detail = f"cannot reach it: {reason}"
        return AlertOutcome("webhook", target, False, detail, None, time.monotonic() - started)
    ok = 200 <= status < 300
    return AlertOutcome("webhook", target, ok, f"HTTP {status}", status, time.monotonic() - started)


def run_command(
    command: Sequence[str] | str, result_path: str, status: str, timeout: float
) -> AlertOutcome:
    """Run ``command`` (no shell) with ``MLCTL_MONITOR_RESULT`` and
    ``MLCTL_MONITOR_STATUS`` in its environment; exit code 0 is success."""
    args = shlex.split(command) if isinstance(command, str) else list(command)
    target = args[0] if args else ""
    env = {**os.environ, "MLCTL_MONITOR_RESULT": str(result_path), "MLCTL_MONITOR_STATUS": status}
    started = time.monotonic()
    try:
        done = subprocess.run(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return AlertOutcome(
            "command",
            target,
            False,
            f"still running after {timeout:g} s: stopped",
            None,
            time.monotonic() - started,
        )
    except OSError as exc:
        return AlertOutcome(
            "command",
            target,
            False,
            f"cannot start it: {exc.strerror or exc}",
            None,
            time.monotonic() - started,
        )
    seconds = time.monotonic() - started
    if done.returncode == 0:
        return AlertOutcome("command", target, True, "exit code 0", 0, seconds)
    tail = (done.stderr or done.stdout or "").strip().splitlines()
    detail = f"exit code {done.returncode}" + (f": {tail[-1][:MAX_BODY_SHOWN]}" if tail else "")
    return AlertOutcome("command", target, False, detail, done.returncode, seconds)


def send_alerts(
    settings: Any,
    document: dict[str, Any],
    result_path: str,
    report: str | None,
) -> list[AlertOutcome]:
    """Every configured alert (``monitor.alerts``), whatever the others did."""
    out = []
    if settings.webhook:
        out.append(
            post_webhook(settings.webhook, alert_body(document, report), settings.timeout_seconds)
        )
    if settings.command:
        out.append(
            run_command(settings.command, result_path, document["status"], settings.timeout_seconds)
        )
    return out


def should_alert(settings: Any, status: str) -> bool:
    """Whether this run's status calls for the configured alerts."""
    if not (settings.webhook or settings.command):
        return False
    return settings.when == "always" or status == "attention"
