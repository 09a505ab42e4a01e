"""The recipe text ``mlctl init`` writes: valid YAML, valid recipe, safe quoting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlctl.errors import UsageError
from mlctl.recipe.loader import load_recipe
from mlctl.scaffold import InitOptions, scaffold
from mlctl.scaffold.core import default_name
from mlctl.scaffold.recipe import scalar

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("Yes", "'Yes'"),
        ("no", "'no'"),
        ("1.10", "'1.10'"),
        ("null", "'null'"),
        ("plain", "plain"),
        ("a: b", "'a: b'"),
        (1, "1"),
        (None, "null"),
        ([0.3, "sqrt", None], "[0.3, sqrt, null]"),
        ({"low": 0.01, "high": 10.0}, "{low: 0.01, high: 10.0}"),
    ],
)
def test_scalars_read_back_as_themselves(value, text: str) -> None:
    assert scalar(value) == text
    assert yaml.safe_load(scalar(value)) == value


def test_interpolation_syntax_in_a_name_is_escaped() -> None:
    assert scalar("cost_${x}") == "cost_\\${x}"


@pytest.mark.parametrize(
    ("stem", "name"),
    [
        ("WA_Fn-UseC_-Telco", "WA_Fn-UseC_-Telco"),
        ("My data (v2)", "My-data-v2"),
        ("données été", "donnees-ete"),
        ("数据", "model"),
        ("sales.csv", "sales"),  # data.csv.gz → its stem without .csv
    ],
)
def test_default_name_from_the_file_stem(stem: str, name: str) -> None:
    suffix = ".gz" if stem.endswith(".csv") else ".csv"
    assert default_name(Path(f"/x/{stem}{suffix}")) == name


def customers(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    tenure = rng.integers(0, 72, n)
    return pd.DataFrame(
        {
            "customer id": [f"c{i}" for i in range(n)],
            "tenure": tenure,
            "on": rng.choice(["yes", "no"], n),  # a YAML 1.1 boolean as a column name
            "spend": [" " if i % 50 == 0 else f"{t * 20.5:.2f}" for i, t in enumerate(tenure)],
            "churned": np.where(tenure < 20, "Yes", "No"),
        }
    )


def test_written_recipe_loads_and_matches_the_plan(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    customers().to_csv(tmp_path / "data" / "customers.csv", index=False)
    result = scaffold(InitOptions("data/customers.csv", "churned", name="churn"), cwd=tmp_path)
    assert result.path == tmp_path / "recipes" / "churn.yaml"
    r = load_recipe(result.path).recipe
    assert r.data.source == "../data/customers.csv"
    assert r.data.positive_class == "Yes" and r.data.id_column == "customer id"
    assert r.data.coerce == {"spend": "float"}
    assert r.features.numeric == ["tenure", "spend"] and r.features.categorical == ["on"]
    assert set(r.models.candidates) == {"hgb", "logreg", "random_forest"}
    assert r.models.ensemble.method == "voting" and r.models.ensemble.top == 3
    assert r.tuning.time_budget == 60
    assert r.readiness.beat_baseline_by == 0.05 and r.deploy.model_name == "churn"
    assert "defaults" not in result.text  # self-contained: no conf/ groups
    assert "# numbers stored as text; 4 blank or NA values" in result.text


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    customers().to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "mine.yaml"
    out.write_text("keep me\n")
    options = InitOptions("c.csv", "churned", out="mine.yaml")
    with pytest.raises(UsageError) as err:
        scaffold(options, cwd=tmp_path)
    assert "already exists" in str(err.value) and "--overwrite" in err.value.hint
    assert out.read_text() == "keep me\n"
    options.force = True
    assert scaffold(options, cwd=tmp_path).replaced
    assert load_recipe(out).recipe.name == "c"


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"name": "bad name!"}, "not a valid recipe name"), ({"out": "r.yml"}, "must end in .yaml")],
)
def test_bad_name_or_output(tmp_path: Path, kw: dict, message: str) -> None:
    customers().to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(UsageError) as err:
        scaffold(InitOptions("c.csv", "churned", **kw), cwd=tmp_path)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("file", "sep", "name"),
    [("data.tsv", "\t", "data"), ("data.csv.gz", ",", "data"), ("data.tsv.bz2", "\t", "data")],
)
def test_tsv_and_compressed_csv_get_a_format_mlctl_reads(
    tmp_path: Path, file: str, sep: str, name: str
) -> None:
    from mlctl.data.load import read_table

    customers().to_csv(tmp_path / file, sep=sep, index=False)
    result = scaffold(InitOptions(file, "churned", sample_rows=100), cwd=tmp_path)
    assert result.path == tmp_path / "recipes" / f"{name}.yaml"
    assert result.plan.rows_total == 200  # lines counted in the decompressed text
    r = load_recipe(result.path).recipe
    assert r.data.format == "csv" and r.data.csv_separator == sep
    frame, _ = read_table(result.path.parent / r.data.source, r.data.format, sep)
    assert list(frame.columns) == list(customers().columns)


def test_compressed_parquet_is_refused_with_the_extensions_read(tmp_path: Path) -> None:
    from mlctl.errors import DataError

    (tmp_path / "data.parquet.gz").write_bytes(b"x")
    with pytest.raises(DataError, match=r"'\.parquet\.gz'") as err:
        scaffold(InitOptions("data.parquet.gz", "churned"), cwd=tmp_path)
    assert ".gz" in (err.value.hint or "")


def test_line_breaks_in_names_and_labels_stay_on_one_line(tmp_path: Path) -> None:
    n = 60
    frame = pd.DataFrame(
        {
            "multi\nline": np.arange(n) % 7 * 1.5,
            "const\nname: 1": 1,  # dropped: its name goes into a comment
            "y\ncat": ["p", "q\r\nr"] * (n // 2),
            "lab\nel": ["a\nb", "c"] * (n // 2),
        }
    )
    frame.to_csv(tmp_path / "nl.csv", index=False)
    result = scaffold(InitOptions("nl.csv", "lab\nel", name="nl"), cwd=tmp_path)
    assert '    - "multi\\nline"' in result.text
    assert "#   const\\nname: 1: constant" in result.text
    r = load_recipe(result.path).recipe
    assert r.data.target == "lab\nel" and r.data.positive_class == "c"  # a tie: the last
    assert r.features.numeric == ["multi\nline"] and r.features.categorical == ["y\ncat"]
    assert r.data.expectations.columns["lab\nel"].allowed == ["a\nb", "c"]
    assert scalar("a\n${x}") == '"a\\n\\\\${x}"'


@pytest.mark.parametrize("sep", ["", ";;", '"', "\n"])
def test_a_separator_must_be_one_character(tmp_path: Path, sep: str) -> None:
    customers().to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(UsageError, match="--sep .*must be one character"):
        scaffold(InitOptions("c.csv", "churned", separator=sep), cwd=tmp_path)
    assert not (tmp_path / "recipes").exists()


def test_a_literal_backslash_t_separator_means_tab(tmp_path: Path) -> None:
    customers().to_csv(tmp_path / "c.txt", sep="\t", index=False)
    result = scaffold(InitOptions("c.txt", "churned", separator="\\t"), cwd=tmp_path)
    assert load_recipe(result.path).recipe.data.csv_separator == "\t"
