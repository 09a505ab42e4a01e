"""The recipe's ``data``, ``split`` and ``features`` sections: where the data is, what
it must look like, how it is split and which columns feed the model."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mlctl.recipe.schema.base import ColumnType, Strict


class ColumnExpectation(Strict):
    """What a column of the raw data must look like (checked before training)."""

    type: ColumnType | None = Field(
        None, description="Expected type after coercion: float, int, str, category, bool, datetime."
    )
    allowed: list[str | int | float | bool] | None = Field(
        None, description="Allowed values (categorical columns). Other values are an error."
    )
    min: float | None = Field(None, description="Smallest allowed value (numeric columns).")
    max: float | None = Field(None, description="Largest allowed value (numeric columns).")
    max_missing: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        1.0, description="Largest allowed share of missing values, 0 to 1."
    )
    unique: bool = Field(False, description="Values must be unique (e.g. an id column).")


class Expectations(Strict):
    """Checks on the raw table; all failures are reported together."""

    min_rows: Annotated[int, Field(ge=1)] = Field(
        10, description="Fewest rows the data may have (after dropping rows with no target)."
    )
    columns: dict[str, ColumnExpectation] = Field(
        default_factory=dict, description="Per-column expectations, by column name."
    )


class Split(Strict):
    """How the data is split into a training and a held-out test set."""

    strategy: Literal["random", "stratified", "time"] = Field(
        "stratified",
        description="random, stratified (on the target; classification only) or time "
        "(the latest rows by `time_column` become the test set).",
    )
    test_size: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.2, description="Share of rows held out for the test set, strictly between 0 and 1."
    )
    seed: int = Field(42, description="Random seed of the split.")
    time_column: str | None = Field(
        None, description="Column ordering rows in time; required when strategy is time."
    )


class Data(Strict):
    """Where the data is and what it must look like."""

    source: str = Field(
        description="CSV or Parquet file, or a glob of them. Relative paths resolve against "
        "the recipe file's folder."
    )
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="File format; auto picks it from the file extension."
    )
    csv_separator: str = Field(",", description="Field separator of CSV files.")
    target: str = Field(description="Column to predict.")
    positive_class: str | int | bool | None = Field(
        None,
        description="Label of the positive class (binary classification); defaults to the "
        "last label in text sort order (e.g. 'Yes' of No/Yes, 1 of 0/1).",
    )
    id_column: str | None = Field(
        None, description="Row identifier: kept out of the features, checked for uniqueness."
    )
    drop: list[str] = Field(
        default_factory=list,
        description="Columns removed right after reading, before any check (e.g. leaky or "
        "personal columns); they may not be used anywhere else in the recipe.",
    )
    coerce: dict[str, ColumnType] = Field(
        default_factory=dict,
        description="Column type coercions applied on load and inside the model pipeline, "
        "e.g. `TotalCharges: float` turns blank strings into missing values.",
    )
    expectations: Expectations = Field(
        default_factory=Expectations, description="Checks on the raw data."
    )


class NumericTransform(Strict):
    """Transforms for numeric columns, fitted on the training split."""

    impute: Literal["mean", "median", "most_frequent", "zero", "none"] = Field(
        "median", description="How missing numeric values are filled."
    )
    scale: Literal["standard", "minmax", "robust", "none"] = Field(
        "standard", description="How numeric columns are scaled."
    )
    add_missing_indicator: bool = Field(
        False, description="Add a 0/1 column per numeric column that had missing values."
    )


class CategoricalTransform(Strict):
    """Transforms for categorical columns; unknown categories never crash at predict time."""

    impute: Literal["most_frequent", "constant", "none"] = Field(
        "constant", description="How missing categories are filled (constant: '__missing__')."
    )
    encode: Literal["onehot", "ordinal"] = Field(
        "onehot",
        description="onehot (unknown categories become all zeros) or ordinal (unknown → -1).",
    )
    min_frequency: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Categories seen fewer times are grouped as infrequent (onehot)."
    )


class DerivedFeature(Strict):
    """A feature computed from other columns with a small, safe expression."""

    name: str = Field(description="Name of the new column.")
    expr: str = Field(
        description="Expression over columns: arithmetic, comparisons, and/or/not, log, log1p, "
        "exp, sqrt, abs, clip, round, isnull, fillna, where, and fit-time statistics "
        "median(col), mean(col), std(col), min(col), max(col), quantile(col, q)."
    )


class Features(Strict):
    """Which columns feed the model and how they are transformed."""

    numeric: list[str] = Field(default_factory=list, description="Numeric input columns.")
    categorical: list[str] = Field(default_factory=list, description="Categorical input columns.")
    derived: list[DerivedFeature] = Field(
        default_factory=list,
        description="Derived numeric features (added to the numeric columns).",
    )
    numeric_transform: NumericTransform = Field(default_factory=NumericTransform, description="")
    categorical_transform: CategoricalTransform = Field(
        default_factory=CategoricalTransform, description=""
    )
