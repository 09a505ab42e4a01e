"""Column kinds and file reading of ``mlctl init`` (mlctl/scaffold/profile.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlctl.errors import DataError
from mlctl.scaffold.profile import profile_columns, read_sample

pytestmark = pytest.mark.unit

N = 200


def kinds(frame: pd.DataFrame) -> dict[str, tuple[str, str | None]]:
    return {p.name: (p.kind, p.coerce) for p in profile_columns(frame, set())}


def test_every_kind_is_recognised() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "row": np.arange(N),
            "user_id": rng.permutation(N) + 1000,
            "code": [f"C-{i:05d}" for i in range(N)],
            "amount": rng.normal(50, 10, N),
            "count": rng.integers(0, 9, N),
            "flag": rng.integers(0, 2, N),
            "price_text": [" " if i % 40 == 0 else f"{i * 1.5:.2f}" for i in range(N)],
            "plan": rng.choice(["basic", "pro", "team"], N),
            "active": rng.choice([True, False], N),
            "country": "NL",
            "empty": [np.nan] * N,
            "email": [f"user{i % 150}@example.com" for i in range(N)],
            "signup": pd.date_range("2024-01-01", periods=N, freq="D").strftime("%Y-%m-%d"),
            "note": [f"customer {i} called about the invoice of month {i % 12}" for i in range(N)],
        }
    )
    assert kinds(frame) == {
        "row": ("id", None),
        "user_id": ("id", None),
        "code": ("id", None),
        "amount": ("numeric", None),
        "count": ("numeric", None),
        "flag": ("numeric", None),
        "price_text": ("numeric", "float"),
        "plan": ("categorical", None),
        "active": ("categorical", None),
        "country": ("constant", None),
        "empty": ("constant", None),
        "email": ("high_cardinality", None),
        "signup": ("datetime", None),
        "note": ("text", None),
    }


def test_numbers_as_text_reason_names_the_blanks_and_a_row() -> None:
    frame = pd.DataFrame({"TotalCharges": ["29.85", " ", "108.15", "NA"] * 10})
    (p,) = profile_columns(frame, set())
    assert p.coerce == "float"
    assert "20 blank or NA values become missing" in p.coerce_reason
    assert "(e.g. ' ' at row 2)" in p.coerce_reason


def test_unique_floats_are_measurements_not_ids() -> None:
    frame = pd.DataFrame({"weight": np.linspace(1.5, 99.5, N)})
    assert kinds(frame)["weight"] == ("numeric", None)


def test_unique_integers_without_id_name_or_order_stay_numeric() -> None:
    values = np.random.default_rng(1).permutation(N) * 7
    assert kinds(pd.DataFrame({"income": values}))["income"] == ("numeric", None)


def test_the_target_is_excluded() -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})
    assert [p.name for p in profile_columns(frame, {"y"})] == ["x"]


def test_read_csv_sample_and_estimated_total(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    pd.DataFrame({"a": range(1000), "b": ["x"] * 1000}).to_csv(path, index=False)
    table = read_sample(path, 100)
    assert len(table.frame) == 100
    assert table.rows_total == 1000 and table.sampled and not table.rows_exact
    whole = read_sample(path, 5000)
    assert whole.rows_total == 1000 and not whole.sampled


def test_read_parquet_knows_the_exact_total(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": range(500)}).to_parquet(path)
    table = read_sample(path, 100)
    assert (len(table.frame), table.rows_total, table.rows_exact) == (100, 500, True)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "file not found: "),
        ("empty.csv", "", "the file is empty"),
        ("header.csv", "a,b\n", "header but no data rows"),
        ("data.xlsx", "a,b\n1,2\n", "cannot tell the format"),
        ("bad.parquet", "not parquet", "cannot read "),
    ],
)
def test_unreadable_files_are_named(tmp_path: Path, name: str, content, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError) as err:
        read_sample(path, 100)
    assert message in err.value.message
    assert name in err.value.message


def test_a_semicolon_file_read_with_an_explicit_comma_suggests_the_separator(
    tmp_path: Path,
) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("a;b;c\n1;2;3\n4;5;6\n")
    with pytest.raises(DataError) as err:
        read_sample(path, 100, ",")
    assert "--sep ';'" in err.value.hint
    assert read_sample(path, 100, ";").frame.shape == (2, 3)


@pytest.mark.parametrize(
    ("name", "text", "separator", "shape"),
    [
        ("semi.csv", "a;b;c\n1;2;3\n4;5;6\n", ";", (2, 3)),
        ("tabs.csv", "a\tb\n1\t2\n", "\t", (1, 2)),
        ("pipes.txt", "a|b|c\nx|y|z\n", "|", (1, 3)),
        ("commas.csv", "a,b\n1,2\n", ",", (1, 2)),
        # European numbers: decimal commas inside semicolon-separated fields.
        ("euro.csv", "price;qty;name\n1,5;2;x\n10,25;3;y\n", ";", (2, 3)),
        # Quoted separators do not count.
        ("quoted.csv", 'a;b\n"x;y, z";1\n"p,q";2\n', ";", (2, 2)),
        ("quoted_commas.csv", 'a,b\n"x;y";1\n"p;q";2\n', ",", (2, 2)),
        ("one.csv", "a\n1\n2\n", ",", (2, 1)),
        ("one.tsv", "a\n1\n", "\t", (1, 1)),
    ],
)
def test_the_separator_is_read_off_the_file(tmp_path, name, text, separator, shape) -> None:
    from mlctl.scaffold.profile import sniff_separator

    path = tmp_path / name
    path.write_text(text)
    assert sniff_separator(path) == separator
    table = read_sample(path, 100)
    assert table.separator == separator and table.frame.shape == shape


def test_a_compressed_file_is_sniffed_too(tmp_path: Path) -> None:
    import gzip

    from mlctl.scaffold.profile import sniff_separator

    path = tmp_path / "semi.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("a;b\n" + "".join(f"{i};{i * 2}\n" for i in range(100)))
    assert sniff_separator(path) == ";"


def test_a_folder_or_glob_names_one_file_to_start_from(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    for i in range(2):
        pd.DataFrame({"x": [1, 2], "y": [0, 1]}).to_parquet(tmp_path / "parts" / f"p{i}.parquet")
    (tmp_path / "parts" / "_SUCCESS").write_text("")
    for source in (tmp_path / "parts", tmp_path / "parts" / "*.parquet"):
        with pytest.raises(DataError, match="mlctl init reads one CSV or Parquet file") as err:
            read_sample(source, 100)
        assert "one of its 2 file(s), e.g. " + str(tmp_path / "parts" / "p0.parquet") in (
            err.value.hint or ""
        )
        assert f"data.source to {tmp_path / 'parts'}/*.parquet" in (err.value.hint or "")


def test_infinite_numbers_are_not_features() -> None:
    frame = pd.DataFrame(
        {
            "x": [1.0, np.inf] + [float(i) for i in range(38)],
            "t": [" ", "-inf"] + [str(i) for i in range(38)],  # numbers stored as text
            "ok": [float(i % 5) for i in range(40)],
        }
    )
    (x, t, ok) = profile_columns(frame, set())
    assert (x.kind, t.kind, ok.kind) == ("infinite", "infinite", "numeric")
    assert x.reason.startswith("1 infinite value (e.g. inf at row 2)")
    assert t.coerce is None and "'-inf' at row 2" in t.reason
