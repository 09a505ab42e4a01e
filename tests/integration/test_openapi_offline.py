"""The OpenAPI page of a real ``mlctl serve`` works offline, and its schema describes
the served model.

- ``/schema/swagger``: every script, style sheet and icon the page references is served
  by the server itself (same origin, no other host), with the right content type and a
  real size (Swagger UI's files from the flask-swagger-ui distribution).
- ``/schema/openapi.json``: ``/predict``'s request lists the model's input columns with
  their types and carries an example row from the model's input example; every route
  has a 200 answer schema and one of the tags mlctl, MLflow, OIP v2, operations.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from serve_helpers import FAST, ROW, Server, call

pytestmark = pytest.mark.integration

TAGS = {"mlctl", "MLflow", "OIP v2", "operations"}


class Assets(HTMLParser):
    """Every URL a page loads: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(("script", a["src"]))
        elif tag == "link" and a.get("href"):
            self.urls.append((a.get("rel") or "link", a["href"]))
        elif tag in ("img", "iframe") and a.get("src"):
            self.urls.append((tag, a["src"]))


@pytest.fixture(scope="module")
def server(tmp_path_factory, trained_churn_project):
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("openapi"), 600, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    srv = Server(root, "recipes/churn.yaml")
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0, srv.output()


def test_the_docs_page_loads_only_local_assets(server) -> None:
    page = server.get("/schema/swagger")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    html = page.body.decode()
    parser = Assets()
    parser.feed(html)
    kinds = {kind for kind, _ in parser.urls}
    assert "script" in kinds and "stylesheet" in kinds and "icon" in kinds, parser.urls
    # nothing anywhere in the page points at another host (inline scripts included)
    assert not re.findall(r"https?://(?!127\.0\.0\.1)[^\s'\"]+", html.split("spec:")[0])
    expected = {"script": "javascript", "stylesheet": "text/css", "icon": "image/png"}
    origin = urlsplit(server.url)
    for kind, url in parser.urls:
        full = urljoin(server.url + "/schema/swagger", url)
        parts = urlsplit(full)
        assert (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc), url
        res = call(full)
        assert res.status == 200, (url, res.status)
        assert expected[kind] in res.headers["content-type"], (url, res.headers)
        assert len(res.body) > (100_000 if kind != "icon" else 200), (url, len(res.body))
    scripts = [u for k, u in parser.urls if k == "script"]
    assert any(u.endswith("swagger-ui-bundle.js") for u in scripts)
    assert call(server.url + "/schema/assets/nope.js").status == 404


def test_predict_request_lists_the_models_columns_and_an_example(server) -> None:
    doc = server.get("/schema/openapi.json").json
    features = {f["name"]: f["type"] for f in server.get("/model").json["features"]}
    row = doc["components"]["schemas"]["PredictRow"]
    assert set(features) <= set(row["properties"])
    kinds = {"long": "integer", "integer": "integer", "double": "number", "string": "string"}
    for name, mlflow_type in features.items():
        assert kinds[mlflow_type] in row["properties"][name]["type"], name
    assert row["properties"]["tenure"]["type"] == ["integer", "null"]
    assert row["properties"]["MonthlyCharges"]["type"] == ["number", "null"]
    assert row["properties"]["gender"]["type"] == ["string", "null"]
    assert set(row["required"]) == set(features) and row["additionalProperties"] is False
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    example = body["example"]["records"][0]
    assert set(features) <= set(example) and isinstance(example["MonthlyCharges"], float)
    # the example is a row the server scores
    assert server.post("/predict", body["example"]).status == 200
    mlflow = doc["paths"]["/invocations"]["post"]["requestBody"]["content"]["application/json"]
    assert server.post("/invocations", mlflow["example"]).status == 200
    infer = doc["paths"]["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]
    assert server.post("/v2/models/churn/infer", infer["application/json"]["example"]).status == 200
    # the columns form: one typed list per column
    columns = doc["components"]["schemas"]["PredictRequest"]["properties"]["columns"]
    assert columns["properties"]["tenure"]["items"]["type"] == ["integer", "null"]
    answer = doc["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]
    prediction = answer["schema"]["properties"]["predictions"]["items"]["properties"]
    assert prediction["prediction"]["enum"] == ["No", "Yes"]
    assert set(ROW) >= set(features)


def test_every_route_has_a_tag_and_a_200_schema(server) -> None:
    doc = server.get("/schema/openapi.json").json
    assert {t["name"] for t in doc["tags"]} == TAGS
    seen = set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert len(op["tags"]) == 1 and op["tags"][0] in TAGS, (method, path)
            seen.add(op["tags"][0])
            if method == "head":
                continue
            ok = op["responses"]["200"]
            [(media, content)] = ok["content"].items()
            assert content["schema"], (method, path)  # not Litestar's empty {}
    assert seen == TAGS
    paths = doc["paths"]
    assert paths["/invocations"]["post"]["tags"] == ["MLflow"]
    assert paths["/v2/models/{name}/infer"]["post"]["tags"] == ["OIP v2"]
    assert paths["/metrics"]["get"]["tags"] == ["operations"]
    assert paths["/predict"]["post"]["tags"] == ["mlctl"]
