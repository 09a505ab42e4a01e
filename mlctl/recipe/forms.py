"""Pure forms of values a recipe names, checked before anything uses them.

Nothing here imports Dask or any other backend, so checking a recipe stays light.
"""

from __future__ import annotations

from urllib.parse import urlsplit

SCHEMES = ("tcp", "tls")
EXPECTED = "expected tcp://host:port (or tls://host:port), e.g. tcp://10.0.0.5:8786"


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a Dask scheduler address; None when it is one.

    Accepted: ``tcp://host:port`` and ``tls://host:port`` with a host name, an IPv4
    address or a bracketed IPv6 address, and a port from 1 to 65535. Nothing else
    (no path, no user, no query).
    """
    bad = f"'{address}' is not a Dask scheduler address; {EXPECTED}"
    scheme, sep, _ = address.partition("://")
    if not sep or scheme not in SCHEMES:
        return bad
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        return bad
    extras = (parts.path, parts.query, parts.fragment, parts.username, parts.password)
    if not parts.hostname or not port or any(extras):
        return bad
    return None
