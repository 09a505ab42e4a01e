"""The HTTP examples of docs/serving.md, executed against a real ``mlctl serve``.

An example in the markdown is a request block followed by a response block::

    ```http request
    POST /predict
    Content-Type: application/json

    {"records": [...]}
    ```

    ```http response
    HTTP/1.1 200 OK
    x-model-version: 1

    {"request_id": "...", "predictions": [...]}
    ```

The request block's info string may name the server it runs on (``http request
server=secured``; default ``default``; both are started below from one trained churn
model). Its first line is ``METHOD PATH``, then headers, a blank line and the body,
sent byte for byte. The response block's first line carries the status code, then
headers, a blank line and the body. What is checked:

- the status code;
- every documented header is in the response, and its value starts with the documented
  one (a value of ``…`` only asks for the header);
- a JSON body: every documented key exists (objects by key, lists element by element;
  the docs may leave keys and elements out), and ``error_code`` values, booleans and
  nulls are equal;
- any other body: the first word of each documented line occurs in the response.

Row request ids in a request body (32 hex digits, ``-``, a row number) are replaced by
the ids of those rows in the latest ``/predict`` answer of the same server: the docs
show ids from a real run, the test needs live ones. Fenced blocks of other kinds
(``json``, ``text``) are not run.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import FAST, Reply, Server

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "serving.md"
API_KEY = "s3cret"
SERVERS = {
    "default": [],
    "secured": [
        "deploy.serve.api_key_env=CHURN_API_KEY",
        "deploy.serve.admin=true",
        "deploy.serve.max_batch_rows=2",
    ],
}
ROW_ID = re.compile(r"\b[0-9a-f]{32}-(\d+)\b")
PLACEHOLDER = "…"


# ---------------------------------------------------------------- the format
@dataclass
class Example:
    """One documented request and the response the docs promise for it."""

    line: int  # of the request block's opening fence, 1-based
    server: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""

    @property
    def id(self) -> str:
        return f"L{self.line} {self.method} {self.path}"


def fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line of the opening fence, info string, content) of each ``` block."""
    blocks, info, start, content = [], None, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        if info is None and line.startswith("```"):
            info, start, content = line[3:].strip(), number, []
        elif info is not None and line.rstrip() == "```":
            blocks.append((start, info, "\n".join(content)))
            info = None
        elif info is not None:
            content.append(line)
    assert info is None, f"docs/serving.md:{start}: unclosed ``` block"
    return blocks


def _head_and_body(content: str) -> tuple[list[str], str]:
    head, _, body = content.partition("\n\n")
    return head.splitlines(), body.strip()


def _headers(lines: list[str], where: str) -> dict[str, str]:
    out = {}
    for line in lines:
        name, colon, value = line.partition(":")
        assert colon, f"{where}: '{line}' is not a 'Header: value' line"
        out[name.strip().lower()] = value.strip()
    return out


def parse_examples(text: str) -> list[Example]:
    """The request/response pairs of a markdown text (see the module docstring)."""
    blocks = fenced_blocks(text)
    examples = []
    for i, (line, info, content) in enumerate(blocks):
        words = info.split()
        if words[:2] != ["http", "request"]:
            continue
        where = f"docs/serving.md:{line}"
        options = dict(w.split("=", 1) for w in words[2:] if "=" in w)
        assert i + 1 < len(blocks), f"{where}: a request block needs a response block after it"
        r_line, r_info, r_content = blocks[i + 1]
        assert r_info.split()[:2] == ["http", "response"], (
            f"{where}: the block after a request must be ```http response (line {r_line})"
        )
        head, body = _head_and_body(content)
        method, path = head[0].split()[:2]
        r_head, r_body = _head_and_body(r_content)
        status = int(r_head[0].split()[1])
        examples.append(
            Example(
                line=line,
                server=options.get("server", "default"),
                method=method,
                path=path,
                headers=_headers(head[1:], where),
                body=body.encode(),
                status=status,
                response_headers=_headers(r_head[1:], f"docs/serving.md:{r_line}"),
                response_body=r_body,
            )
        )
    return examples


# ----------------------------------------------------------------- the checks
def missing_keys(documented: Any, actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` lacks what ``documented`` shows (see the module docstring)."""
    problems: list[str] = []
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {json.dumps(actual)[:80]}"]
        for key, value in documented.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            elif key == "error_code" and actual[key] != value:
                problems.append(f"{path}.{key}: {actual[key]!r}, documented {value!r}")
            else:
                problems += missing_keys(value, actual[key], f"{path}.{key}")
    elif isinstance(documented, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {json.dumps(actual)[:80]}"]
        if len(actual) < len(documented):
            problems.append(f"{path}: {len(actual)} elements, documented {len(documented)}")
        for i, (doc_item, item) in enumerate(zip(documented, actual, strict=False)):
            problems += missing_keys(doc_item, item, f"{path}[{i}]")
    elif (documented is None or isinstance(documented, bool)) and actual is not documented:
        problems.append(f"{path}: {json.dumps(actual)}, documented {json.dumps(documented)}")
    return problems


def check(example: Example, reply: Reply) -> list[str]:
    problems = []
    if reply.status != example.status:
        problems.append(f"status {reply.status}, documented {example.status}")
    for name, value in example.response_headers.items():
        actual = reply.headers.get(name)
        wanted = value.rstrip(PLACEHOLDER).strip().lower()
        if actual is None:
            problems.append(f"header {name}: missing")
        elif not actual.lower().startswith(wanted):
            problems.append(f"header {name}: {actual!r}, documented {value!r}")
    if example.response_body:
        documented_json = _json_or_none(example.response_body)
        if documented_json is not None:
            actual_json = _json_or_none(reply.body.decode("utf-8", "replace"))
            if actual_json is None:
                problems.append("the response body is not JSON")
            else:
                problems += missing_keys(documented_json, actual_json)
        else:
            text = reply.body.decode("utf-8", "replace")
            for line in example.response_body.splitlines():
                word = re.split(r"[\s{]", line.strip(), maxsplit=1)[0]
                if word and word != PLACEHOLDER and word not in text:
                    problems.append(f"'{word}' is not in the response body")
    return problems


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def send(base_url: str, example: Example, body: bytes) -> Reply:
    data = body if example.method not in ("GET", "HEAD") else None
    req = urllib.request.Request(base_url + example.path, data=data, method=example.method)
    for name, value in example.headers.items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return Reply(res.status, {k.lower(): v for k, v in res.headers.items()}, res.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


def live_ids(body: bytes, predicted: list[str]) -> bytes:
    """Row request ids from the docs → those of the latest /predict answer."""

    def swap(match: re.Match) -> str:
        row = int(match.group(1))
        assert row < len(predicted), f"no row {row} in the latest /predict answer"
        return predicted[row]

    return ROW_ID.sub(swap, body.decode()).encode()


EXAMPLES = parse_examples(DOC.read_text()) if DOC.exists() else []


# ------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def servers(tmp_path_factory, trained_churn_project):
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("serving-docs"), 700, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    started = {
        name: Server(root, "recipes/churn.yaml", *overrides, env={"CHURN_API_KEY": API_KEY})
        for name, overrides in SERVERS.items()
    }
    try:
        for srv in started.values():
            srv.wait_ready()
        yield {name: {"server": srv, "predicted": []} for name, srv in started.items()}
    finally:
        for srv in started.values():
            srv.stop()


# ---------------------------------------------------------------------- tests
def test_the_docs_have_examples_for_every_route() -> None:
    """Each route of the app appears in at least one executed example."""
    from mlctl.serve.app import route_table

    routes = set(route_table())
    routes |= {("GET", "/schema/openapi.json"), ("GET", "/schema/swagger")}
    assert len(routes) >= 16, routes
    documented = {(e.method, _route_of(e.path)) for e in EXAMPLES}
    missing = sorted(f"{m} {p}" for m, p in routes if (m, p) not in documented)
    assert not missing, f"routes without an example in docs/serving.md: {missing}"


def _route_of(path: str) -> str:
    """/v2/models/churn/versions/1/infer → /v2/models/{name:str}/versions/{version:str}/infer"""
    path = path.split("?", 1)[0]
    path = re.sub(r"^/v2/models/[^/]+", "/v2/models/{name:str}", path)
    return re.sub(r"/versions/[^/]+", "/versions/{version:str}", path)


def test_every_serve_key_is_documented() -> None:
    """The `deploy.serve` table of docs/serving.md names every key of the schema."""
    from pydantic import BaseModel

    from mlctl.recipe.schema import Serve

    def keys(model: type[BaseModel], prefix: str) -> list[str]:
        out = []
        for name, info in model.model_fields.items():
            out.append(prefix + name)
            sub = info.annotation
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                out += keys(sub, f"{prefix}{name}.")
        return out

    text = DOC.read_text()
    missing = [k for k in keys(Serve, "") if f"`{k}`" not in text]
    assert not missing, f"deploy.serve keys not in docs/serving.md: {missing}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_documented_example(servers, example: Example) -> None:
    assert example.server in servers, f"unknown server '{example.server}' ({example.id})"
    state = servers[example.server]
    body = (
        live_ids(example.body, state["predicted"])
        if ROW_ID.search(example.body.decode())
        else example.body
    )
    reply = send(state["server"].url, example, body)
    if example.path == "/predict" and reply.status == 200:
        state["predicted"] = [p["request_id"] for p in reply.json["predictions"]]
    problems = check(example, reply)
    assert not problems, (
        f"docs/serving.md:{example.line} {example.method} {example.path}: "
        + "; ".join(problems)
        + f"\nactual: {reply.status} {reply.body[:2000].decode('utf-8', 'replace')}"
    )
