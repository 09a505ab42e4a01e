"""The served OpenAPI document: tags and 200 answers on every route, and the served
model's columns, types and example (mlctl.serve.served_schema.model_schema)."""

from __future__ import annotations

import copy

import pytest

from mlctl.serve.app import ServeConfig, create_app
from mlctl.serve.served_schema import ServedView, column_schema, model_schema

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def base() -> dict:
    app = create_app(ServeConfig("churn", "champion", "/nowhere", "sqlite:///x.db", "sqlite://"))
    return app.openapi_schema.to_schema()


VIEW = ServedView(
    name="churn",
    version=3,
    columns=[
        ("tenure", "long", True),
        ("rate", "float", True),
        ("plan", "string", True),
        ("promo", "boolean", False),
        ("raw", None, True),
    ],
    classes=["No", "Yes"],
    example={"tenure": 1, "rate": 0.5, "plan": "basic", "promo": None, "raw": "x"},
    id_column="customerID",
)


def test_before_the_model_loads_routes_still_have_tags_and_200_schemas(base) -> None:
    before = copy.deepcopy(base)
    doc = model_schema(base, None)
    assert base == before  # Litestar's cached document is not changed
    assert "PredictRow" not in doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["tags"], (method, path)
            if method != "head":
                [content] = op["responses"]["200"]["content"].values()
                assert content["schema"], (method, path)


def test_the_models_columns_types_and_example(base) -> None:
    doc = model_schema(base, VIEW)
    row = doc["components"]["schemas"]["PredictRow"]["properties"]
    assert row["tenure"]["type"] == ["integer", "null"] and row["tenure"]["maximum"] == 2**63 - 1
    assert row["rate"]["type"] == ["number", "null"] and row["rate"]["maximum"] > 3e38
    assert row["plan"]["type"] == ["string", "null"]
    assert row["promo"]["type"] == ["boolean", "null"]
    assert "null" in row["raw"]["type"] and "customerID" in row
    required = doc["components"]["schemas"]["PredictRow"]["required"]
    assert required == ["tenure", "rate", "plan", "raw"]
    assert "customerID" not in doc["components"]["schemas"]["ModelRow"]["properties"]
    predict = doc["paths"]["/predict"]["post"]
    assert predict["requestBody"]["content"]["application/json"]["example"] == {
        "records": [VIEW.example]
    }
    answer = predict["responses"]["200"]["content"]["application/json"]["schema"]
    item = answer["properties"]["predictions"]["items"]["properties"]
    assert item["prediction"] == {"enum": ["No", "Yes"]}
    infer = doc["paths"]["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]
    inputs = infer["application/json"]["example"]["inputs"]
    assert [(i["name"], i["datatype"]) for i in inputs][:2] == [
        ("tenure", "INT64"),
        ("rate", "FP32"),
    ]


def test_column_schema_ranges() -> None:
    assert column_schema("integer")["minimum"] == -(2**31)
    assert column_schema("double")["format"] == "double" and "maximum" not in column_schema(
        "double"
    )
