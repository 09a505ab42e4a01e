"""docs/monitoring.md: its YAML and JSON examples parse, the recipe examples validate, the
CronJob is a valid manifest, every `monitor` key is documented, the screenshot is there."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "monitoring.md"


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^ *```{lang}\n(.*?)^ *```", text, re.S | re.M)


def monitor_schema():
    schema = pytest.importorskip("mlctl.recipe.schema")
    if not hasattr(schema, "Monitor"):
        pytest.skip("the recipe schema has no monitor section yet")
    return schema.Monitor


def test_yaml_examples_parse(text: str) -> None:
    docs = [yaml.safe_load(b) for b in blocks(text, "yaml")]
    assert len(docs) >= 8 and all(isinstance(d, dict) for d in docs)


def test_json_examples_parse(text: str) -> None:
    found = blocks(text, "json")
    assert len(found) >= 3
    for body in found:
        json.loads(body)


def test_recipe_examples_validate_against_the_schema(text: str) -> None:
    model = monitor_schema()
    recipes = [d for d in map(yaml.safe_load, blocks(text, "yaml")) if "monitor" in d]
    assert len(recipes) >= 7
    for doc in recipes:
        model.model_validate(doc["monitor"])


def test_recipe_examples_pass_the_recipe_checks(text: str) -> None:
    """The cross-field checks of `mlctl validate`, on the churn recipe with each block."""
    import dataclasses

    from mlctl.recipe.checks import check_recipe
    from mlctl.recipe.loader import load_recipe

    model = monitor_schema()
    loaded = load_recipe(REPO / "recipes" / "churn.yaml")
    body = re.sub(r"\$\{oc\.env:[A-Z_]+\}", "https://hooks.example.com/T0", text)
    recipes = [d for d in map(yaml.safe_load, blocks(body, "yaml")) if "monitor" in d]
    for doc in recipes:
        recipe = loaded.recipe.model_copy(update={"monitor": model.model_validate(doc["monitor"])})
        issues = check_recipe(dataclasses.replace(loaded, recipe=recipe))
        assert [i.render() for i in issues if i.path.startswith("monitor")] == []


def test_every_monitor_key_is_in_the_table(text: str) -> None:
    model = monitor_schema()
    table = text[text.index("## Every `monitor` key") :]
    table = table[: table.index("```")]
    documented = set(re.findall(r"^\| `([^`]+)` \|", table, re.M))
    assert set(key_paths(model, "monitor")) == documented


def test_the_table_shows_the_schema_defaults(text: str) -> None:
    defaults = monitor_schema()().model_dump()
    table = text[text.index("## Every `monitor` key") :]
    rows = re.findall(r"^\| `monitor\.([^`<]+)` \| `([^`]+)` \|", table, re.M)
    assert len(rows) >= 25
    for path, shown in rows:
        value = defaults
        for part in path.split("."):
            value = value[part]
        assert yaml.safe_load(shown) == value, path


def key_paths(model, prefix: str) -> list[str]:
    """Every leaf key of a pydantic section; dict values as ``<column>``."""
    from pydantic import BaseModel

    out = []
    for name, info in model.model_fields.items():
        path, tp = f"{prefix}.{name}", info.annotation
        if typing.get_origin(tp) is dict:
            path, tp = f"{path}.<column>", typing.get_args(tp)[1]
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            out += key_paths(tp, path)
        else:
            out.append(path)
    return out


def test_the_cronjob_is_a_valid_manifest(text: str) -> None:
    (job,) = [d for d in map(yaml.safe_load, blocks(text, "yaml")) if d.get("kind") == "CronJob"]
    assert job["apiVersion"] == "batch/v1" and job["metadata"]["name"]
    spec = job["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert len(spec["schedule"].split()) == 5
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (container,) = pod["containers"]
    assert container["args"][:3] == ["mlctl", "monitor", "recipes/churn.yaml"]
    volumes = {v["name"] for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert set(mounts) <= volumes
    workspace = container["args"][container["args"].index("--workspace") + 1]
    assert workspace in mounts.values()


def test_the_crontab_line_escapes_percent_signs(text: str) -> None:
    line = next(x for x in text.splitlines() if x.startswith("5 * * * *"))
    assert "%" not in line.replace("\\%", "")
    assert "mlctl monitor recipes/churn.yaml" in line


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    out = set()
    for title in re.findall(r"^#{1,6} (.+)$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_links_point_at_real_headings_and_files(text: str) -> None:
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if target.startswith(("http://", "https://", "images/")):
            continue
        name, _, anchor = target.partition("#")
        doc = DOC.parent / name if name else DOC
        assert doc.is_file(), target
        if anchor:
            assert anchor in anchors(doc.read_text(encoding="utf-8")), target


def test_the_screenshot_is_there_and_small(text: str) -> None:
    (target,) = re.findall(r"!\[[^\]]*\]\((images/[^)]+\.png)\)", text)
    png = DOC.parent / target
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size < 300_000
