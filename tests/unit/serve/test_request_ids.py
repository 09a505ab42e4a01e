"""Request ids: 128 random bits from the operating system, never shared by processes."""

from __future__ import annotations

import os
import re

import pytest

from mlctl.serve import scoring

pytestmark = pytest.mark.unit


def test_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids = [scoring.new_request_id() for _ in range(5000)]  # many refills of the pool
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_process_reads_its_own_random_bytes(monkeypatch) -> None:
    scoring.new_request_id()  # the pool holds bytes for the next ids
    left = bytes(scoring._ids)
    monkeypatch.setattr(os, "getpid", lambda: -7)  # as in a child after fork
    child = [scoring.new_request_id() for _ in range(len(left) // scoring.ID_BYTES)]
    parent_would = {left[i : i + 16].hex() for i in range(0, len(left), 16)}
    assert not parent_would & set(child)
