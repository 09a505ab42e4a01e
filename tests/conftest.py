"""Suite-wide rules: every test says what kind it is (unit or integration)."""

from __future__ import annotations

import pytest

KINDS = {"unit", "integration"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [item.nodeid for item in items if not KINDS & {m.name for m in item.iter_markers()}]
    if unmarked:
        raise pytest.UsageError(
            "tests without a 'unit' or 'integration' marker (set pytestmark in the module): "
            + ", ".join(unmarked[:10])
        )
