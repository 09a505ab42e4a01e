"""Compile the recipe's features section into the preprocessing steps of ONE Pipeline.

The fitted Pipeline (coercion → derived features → column transforms → model) is
what gets logged and served, so training and serving can never disagree.
"""

from __future__ import annotations

from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

from mlctl.features.transformers import ColumnCoercer, DerivedFeatures
from mlctl.recipe.schema import CategoricalTransform, Features, NumericTransform

MISSING = "__missing__"
MODEL_STEP = "model"


def numeric_steps(spec: NumericTransform) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = []
    if spec.impute != "none":
        strategy = "constant" if spec.impute == "zero" else spec.impute
        kwargs: dict[str, Any] = {"fill_value": 0.0} if spec.impute == "zero" else {}
        steps.append(
            (
                "impute",
                SimpleImputer(
                    strategy=strategy,
                    add_indicator=spec.add_missing_indicator,
                    keep_empty_features=True,
                    **kwargs,
                ),
            )
        )
    scaler = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}.get(
        spec.scale
    )
    if scaler is not None:
        steps.append(("scale", scaler()))
    return steps or [("identity", "passthrough")]


def categorical_steps(spec: CategoricalTransform) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = []
    if spec.impute != "none":
        kwargs = {"fill_value": MISSING} if spec.impute == "constant" else {}
        steps.append(("impute", SimpleImputer(strategy=spec.impute, **kwargs)))
    if spec.encode == "onehot":
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist" if spec.min_frequency else "ignore",
            min_frequency=spec.min_frequency,
            sparse_output=False,
        )
    else:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2
        )
    steps.append(("encode", encoder))
    return steps


def preprocessing_steps(features: Features, coerce_types: dict[str, str]) -> list[tuple[str, Any]]:
    """The steps before the model: coerce, derive, transform each column kind."""
    derived = [{"name": d.name, "expr": d.expr} for d in features.derived]
    numeric = list(features.numeric) + [d.name for d in features.derived]
    transformers = []
    if numeric:
        transformers.append(("num", Pipeline(numeric_steps(features.numeric_transform)), numeric))
    if features.categorical:
        transformers.append(
            (
                "cat",
                Pipeline(categorical_steps(features.categorical_transform)),
                list(features.categorical),
            )
        )
    return [
        ("coerce", ColumnCoercer(types=dict(coerce_types))),
        ("derive", DerivedFeatures(expressions=derived)),
        (
            "columns",
            ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True),
        ),
    ]


def build_pipeline(features: Features, coerce_types: dict[str, str], estimator: Any) -> Pipeline:
    """One Pipeline: preprocessing + the estimator under the step name ``model``."""
    return Pipeline(preprocessing_steps(features, coerce_types) + [(MODEL_STEP, estimator)])
