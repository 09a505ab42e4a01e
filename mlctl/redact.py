"""One redaction for everything that leaves the process: MLflow params, tags and
artifacts, reports, printed output, JSON documents and error messages.

What is hidden (replaced by ``***``):

* the password of any URL (``scheme://user:PASSWORD@host``), and the value of a
  query parameter or ``key=value`` pair named like a secret (``?token=...``,
  ``password=...`` in a libpq connection string);
* the string value of any recipe key named like a secret (``*password*``,
  ``*passwd*``, ``*_pass``, ``*secret*``, ``*token*``, ``*key``, ``api_key``, ``*credential*``),
  except the few schema keys that hold a *name* (``api_key_env``, ``sticky_key``,
  ``deploy.k8s.secret``) and keys that are column names;
* every string remembered as a secret (:func:`remember`): the value of an
  ``${oc.env:NAME}`` whose NAME looks like a secret, the passwords of the composed
  recipe's URLs, the values of its secret keys; so exception text that echoes one of
  them (a driver's connection error) is cleaned too.

Runtime consumers (serve, monitor) keep reading the real values from the recipe; only
copies meant for people and stores go through here.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import quote

MASK = "***"
_SECRET_WORDS = (
    r"passw(?:or)?d|passphrase|pwd|secret|token|api[_-]?key|credentials?|private[_-]?key"
)
SECRET_NAME = re.compile(rf"({_SECRET_WORDS}|(?:^|[_.-])(?:key|pass)$)", re.IGNORECASE)
#: Schema keys whose value is a name (of a variable, a column, a Secret object).
NAME_KEYS = {"api_key_env", "sticky_key"}
NAME_PATHS = {("deploy", "k8s", "secret")}
#: Mappings keyed by column names (a column called "token" is not a secret).
COLUMN_MAPS = {
    ("data", "coerce"),
    ("data", "expectations", "columns"),
    ("monitor", "drift", "columns"),
}

_URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*):(?P<pw>[^\s/'\"]*)@")
_PAIR = re.compile(
    rf"(?P<key>\b[\w.\-]*(?:{_SECRET_WORDS})[\w.\-]*)(?P<sep>\s*=\s*|=)(?P<value>'[^']*'|[^\s&'\",;)]+)",
    re.IGNORECASE,
)
_ENV_REF = re.compile(r"\$\{oc\.env:\s*([A-Za-z_][A-Za-z0-9_]*)")
_MIN_SECRET = 6  # shorter remembered strings would blot out ordinary words and paths

_known: set[str] = set()


def is_secret_key(name: str) -> bool:
    """Whether a key or variable name looks like it holds a secret."""
    return bool(SECRET_NAME.search(str(name))) and name not in NAME_KEYS


def remember(*values: Any) -> None:
    """Treat these strings (and their URL-quoted forms) as secrets from now on."""
    for value in values:
        if isinstance(value, str) and len(value) >= _MIN_SECRET and value != MASK:
            _known.add(value)
            _known.add(quote(value, safe=""))


def url_password(text: str) -> list[str]:
    """Passwords written in the URLs of a string."""
    return [m.group("pw") for m in _URL_USERINFO.finditer(text) if m.group("pw")]


def redact_text(text: Any) -> str:
    """A string with every URL password, secret pair and remembered secret masked."""
    text = str(text)
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(
        lambda m: f"{m.group('head')}:{MASK}@" if m.group("pw") else m[0], text
    )
    return _PAIR.sub(lambda m: f"{m.group('key')}{m.group('sep')}{MASK}", text)


def redact_tree(value: Any, path: tuple[str, ...] = ()) -> Any:
    """A copy of a recipe (or any JSON-like document) fit to log, print or report."""
    if isinstance(value, dict):
        columns = path in COLUMN_MAPS
        out = {}
        for k, v in value.items():
            child = (*path, str(k))
            secret = not columns and is_secret_key(str(k)) and child not in NAME_PATHS
            out[k] = MASK if secret and isinstance(v, str) and v else redact_tree(v, child)
        return out
    if isinstance(value, list | tuple):
        return [redact_tree(v, (*path, str(i))) for i, v in enumerate(value)]
    if isinstance(value, str):
        return redact_text(value)
    return value


def remember_tree(value: Any, path: tuple[str, ...] = ()) -> None:
    """Remember the secrets a composed recipe holds (see :func:`redact_tree`)."""
    if isinstance(value, dict):
        columns = path in COLUMN_MAPS
        for k, v in value.items():
            child = (*path, str(k))
            if not columns and is_secret_key(str(k)) and child not in NAME_PATHS:
                remember(v)
            remember_tree(v, child)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            remember_tree(v, (*path, str(i)))
    elif isinstance(value, str):
        remember(*url_password(value))


def remember_env_refs(unresolved: Any) -> None:
    """Remember the values of the ``${oc.env:NAME}`` a recipe reads whose NAME looks
    like a secret (an untrusted recipe could copy one into its ``name``)."""
    if isinstance(unresolved, dict):
        items: list[Any] = list(unresolved.values())
    elif isinstance(unresolved, list | tuple):
        items = list(unresolved)
    else:
        items = [unresolved]
    for item in items:
        if isinstance(item, dict | list | tuple):
            remember_env_refs(item)
        elif isinstance(item, str):
            for name in _ENV_REF.findall(item):
                value = os.environ.get(name)
                if value is None:
                    continue
                remember(*url_password(value))
                if is_secret_key(name):
                    remember(value)
