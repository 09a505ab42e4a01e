"""The Dask engine's pure parts: cutting files into partitions that read back exactly
as the chunked reader reads them, and the per-chunk scorer both engines share."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlctl.predict.files import (
    open_inputs,
    plan_partitions,
    read_chunks,
    read_line_block,
    read_partition,
)
from mlctl.predict.score import ChunkScorer
from mlctl.predict.validate import input_columns

pytestmark = pytest.mark.unit


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    block=st.integers(min_value=1, max_value=40),
    final_newline=st.booleans(),
)
def test_line_blocks_hold_every_line_exactly_once(lines, block, final_newline) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    fh = io.BytesIO(data)
    starts = range(0, len(data), block)
    pieces = [read_line_block(fh, s, min(s + block, len(data))) for s in starts]
    assert b"".join(pieces) == data
    filled = [p for p in pieces if p]
    assert all(p.endswith(b"\n") for p in filled[:-1])  # no line is cut


def frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": [f"{i:05d}" for i in range(n)],
            "x": rng.normal(size=n).round(6),
            "k": rng.integers(0, 5, size=n),
            "c": rng.choice(["a", "b", " "], size=n),
        }
    )


def test_csv_partitions_read_back_as_the_file(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    data = frame(500)
    data.loc[[7, 311], "x"] = np.nan
    data.to_csv(path, index=False)
    (source,) = open_inputs(path, "auto", ",", "id")
    parts = plan_partitions(source, ["id", "x", "k", "c"], 40, ",", "id")
    assert 8 <= len(parts) <= 20  # about 40 rows each
    frames = [read_partition(p) for p in parts]
    whole = pd.concat(frames, ignore_index=True)
    chunks = pd.concat(list(read_chunks(source, ["id", "x", "k", "c"], 40, ",", "id")))
    pd.testing.assert_frame_equal(whole, chunks.reset_index(drop=True))
    assert whole["id"].tolist() == data["id"].tolist()  # ids stay text: 00007, not 7


def test_tiny_blocks_and_header_only(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    frame(5).to_csv(path, index=False)
    (source,) = open_inputs(path, "auto", ",", None)
    parts = plan_partitions(source, ["x"], 1, ",", None)
    assert sum(len(read_partition(p)) for p in parts) == 5
    empty = tmp_path / "empty.csv"
    empty.write_text("id,x\n")
    (source,) = open_inputs(empty, "auto", ",", None)
    (part,) = plan_partitions(source, ["x"], 100, ",", None)
    assert len(read_partition(part)) == 0


def test_parquet_partitions_are_runs_of_whole_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    data = frame(100)
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), path, row_group_size=15)
    (source,) = open_inputs(path, "auto", ",", "id")
    parts = plan_partitions(source, ["id", "x"], 40, ",", "id")
    assert [(p.start, p.stop) for p in parts] == [(0, 3), (3, 6), (6, 7)]  # 45, 45, 10 rows
    whole = pd.concat([read_partition(p) for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(whole, data[["id", "x"]])


def test_unreadable_partition_names_the_file(tmp_path: Path) -> None:
    from mlctl.errors import DataError
    from mlctl.predict.files import Partition

    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=f"--input: cannot read {path} as parquet"):
        read_partition(Partition(str(path), "parquet", ("x",), 0, 1))


SCHEMA = [
    {"name": "x", "type": "double", "required": True},
    {"name": "k", "type": "long", "required": True},
]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    data = frame(200)
    y = np.where(data["x"] > 0, "yes", "no")
    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    return pipe.fit(data[["x", "k"]], y)


def test_chunk_scorer_rejects_with_chunk_rows_and_ids(pipeline) -> None:
    scorer = ChunkScorer(pipeline, input_columns(SCHEMA), "id", None, "m", 3)
    chunk = frame(6)[["id", "x", "k"]].astype(object)
    chunk.loc[1, "x"] = "abc"
    chunk.loc[4, "k"] = "inf"
    scored = scorer(chunk.set_axis(range(100, 106)))  # any index: rows count from 1
    assert (scored.rows_read, scored.rows_scored, scored.rows_rejected) == (6, 4, 2)
    assert scored.rejects[["row", "id", "column", "value"]].values.tolist() == [
        [2, "00001", "x", "abc"],
        [5, "00004", "k", "inf"],
    ]
    out = scored.output.to_pandas()
    assert out["id"].tolist() == ["00000", "00002", "00003", "00005"]
    assert out.columns.tolist() == ["id", "prediction", "proba_no", "proba_yes"] + [
        "model_name",
        "model_version",
    ]
    good = frame(6).iloc[[0, 2, 3, 5]][["x", "k"]]
    assert np.array_equal(out[["proba_no", "proba_yes"]], pipeline.predict_proba(good))
    assert set(out["model_version"]) == {3}


def test_strict_chunk_scorer_stops_before_scoring(pipeline) -> None:
    scorer = ChunkScorer(pipeline, input_columns(SCHEMA), None, None, "m", 1, strict=True)
    chunk = frame(3)[["x", "k"]].astype(object)
    chunk.loc[2, "x"] = "bad"
    scored = scorer(chunk)
    assert scored.output is None and scored.rows_rejected == 1
    assert scored.rejects["id"].tolist() == [None]


def test_chunk_scorer_is_picklable_with_its_model(pipeline) -> None:
    import pickle

    scorer = ChunkScorer(pipeline, input_columns(SCHEMA), "id", None, "m", 1)
    copy = pickle.loads(pickle.dumps(scorer))
    chunk = frame(4)[["id", "x", "k"]]
    assert copy(chunk).output.equals(scorer(chunk).output)
