"""Debian's chromium driven by Playwright, shared by the browser tests.

Without chromium (or the playwright package) the tests skip, except when ``CI`` is set:
then they fail, so CI cannot go green without looking at the pages. ``.ci/run``
installs chromium (``apt-get install -y --no-install-recommends chromium``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def need_browser() -> str:
    """The chromium executable; skip without one, or fail when CI is set."""
    path = chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        message = (
            "needs chromium on PATH and the playwright package "
            "(apt-get install -y --no-install-recommends chromium; pip install -e '.[test]')"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and the browser test cannot run: {message}")
        pytest.skip(message)
    return path


def save_png(shot: Path, out: Path, height: int) -> None:
    """The top ``height`` pixels, quantized: small enough to commit."""
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    image = image.crop((0, 0, image.width, min(height, image.height)))
    image = image.quantize(colors=128, dither=Image.Dither.NONE)
    image.save(out, optimize=True)
