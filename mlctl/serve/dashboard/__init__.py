"""The live dashboard of ``mlctl serve`` (``GET /dashboard``): its page, script and
style ship in this package (no CDN, works offline); :mod:`.data` turns the metrics
``/metrics`` renders and the latest monitoring result into the JSON the page polls.

The server keeps no history: the page keeps its recent samples of the cumulative
counters and histogram buckets and computes rates and windowed quantiles from their
differences (the arithmetic of PromQL's ``rate`` and ``histogram_quantile``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

# The files the page is made of: name -> media type. Only these names are served.
ASSETS = {
    "index.html": "text/html",
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}


@cache
def asset(name: str) -> bytes:
    """One of :data:`ASSETS`, read from the installed package once."""
    if name not in ASSETS:
        raise KeyError(name)
    return resources.files(__name__).joinpath(name).read_bytes()
