"""Regenerate docs/images/monitor-report.png from a report of real building-block output.

    .venv/bin/python tests/unit/monitor/make_screenshot.py

Needs a headless Chromium (Debian: ``apt-get install -y chromium``). The result document
is the one the tests use (conftest.build_result: Telco, shifted); the PNG is the top of
the page, quantized to keep it small.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[2] / "docs" / "images" / "monitor-report.png"


def main() -> int:
    spec = importlib.util.spec_from_file_location("monitor_report_conftest", HERE / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    import pandas as pd
    from PIL import Image

    from mlctl.monitor.report import write_report

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.stderr.write("no chromium on PATH\n")
        return 1
    result = conftest.build_result(pd.read_csv(conftest.TELCO))
    with tempfile.TemporaryDirectory() as tmp:
        page = write_report(result, Path(tmp) / "report.html")
        shot = Path(tmp) / "shot.png"
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
            check=True, capture_output=True,
        )  # fmt: skip
        image = Image.open(shot).convert("RGB").quantize(colors=128, dither=Image.Dither.NONE)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        image.save(OUT, optimize=True)
    sys.stdout.write(f"{OUT} ({OUT.stat().st_size:,} bytes)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
