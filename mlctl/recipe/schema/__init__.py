"""The typed schema of a recipe: :class:`Recipe` and its sections.

Every field carries its user-facing description once; ``docs/recipes.md`` is
generated from these classes (``python -m mlctl.devtools.recipe_docs``). Unknown keys are
refused (``extra="forbid"``) and types are strict, so YAML 1.1 traps such as an
unquoted ``NO`` or ``1.10`` are caught rather than silently coerced.

One module per group of sections (:mod:`.data`, :mod:`.training`, :mod:`.serve`,
:mod:`.deploy`, :mod:`.monitor`, on the shared :mod:`.base`); import every name from
here, ``mlctl.recipe.schema``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mlctl.recipe.schema.base import ColumnType, ParamValue, Strict, Task
from mlctl.recipe.schema.data import (
    CategoricalTransform,
    ColumnExpectation,
    Data,
    DerivedFeature,
    Expectations,
    Features,
    NumericTransform,
    Split,
)
from mlctl.recipe.schema.deploy import (
    IMAGE_PART,
    K8S_LABEL,
    Deploy,
    DeployDocker,
    DeployGithubActions,
    DeployImage,
    DeployK8s,
    DeployK8sResources,
    DeployLimits,
    DeployRequests,
    Rollout,
    RolloutGuards,
)
from mlctl.recipe.schema.monitor import (
    NUMERIC_ONLY_TESTS,
    P_VALUE_TESTS,
    CategoryDriftTest,
    CategoryMethod,
    DriftMethod,
    DriftTest,
    Monitor,
    MonitorAlerts,
    MonitorDrift,
    MonitorMinRows,
    MonitorPerformance,
    MonitorPredictionDrift,
    MonitorVolume,
)
from mlctl.recipe.schema.serve import Serve, ServeCache, ServeLog, ServeSlo, ServeTraffic
from mlctl.recipe.schema.training import (
    Candidate,
    Compute,
    Distribution,
    Evaluation,
    Models,
    Readiness,
    ThresholdChoice,
    Tracking,
    Tuning,
)

__all__ = [
    "ThresholdChoice",
    "IMAGE_PART",
    "K8S_LABEL",
    "NUMERIC_ONLY_TESTS",
    "P_VALUE_TESTS",
    "Candidate",
    "CategoricalTransform",
    "CategoryDriftTest",
    "CategoryMethod",
    "ColumnExpectation",
    "ColumnType",
    "Compute",
    "Data",
    "Deploy",
    "DeployDocker",
    "DeployGithubActions",
    "DeployImage",
    "DeployK8s",
    "DeployK8sResources",
    "DeployLimits",
    "DeployRequests",
    "Rollout",
    "RolloutGuards",
    "DerivedFeature",
    "Distribution",
    "DriftMethod",
    "DriftTest",
    "Evaluation",
    "Expectations",
    "Features",
    "Models",
    "Monitor",
    "MonitorAlerts",
    "MonitorDrift",
    "MonitorMinRows",
    "MonitorPerformance",
    "MonitorPredictionDrift",
    "MonitorVolume",
    "NumericTransform",
    "ParamValue",
    "Readiness",
    "Recipe",
    "Serve",
    "ServeCache",
    "ServeLog",
    "ServeSlo",
    "ServeTraffic",
    "Split",
    "Strict",
    "Task",
    "Tracking",
    "Tuning",
]


class Recipe(Strict):
    """A complete, composed recipe."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")] = Field(
        description="Recipe and default model name: letters, digits, '_', '.', '-'."
    )
    task: Task = Field("classification", description="classification or regression.")
    seed: int = Field(42, description="Global random seed (estimators, search, importance).")
    data: Data = Field(description="Data source and expectations.")
    split: Split = Field(default_factory=Split, description="Train/test split.")
    features: Features = Field(default_factory=Features, description="Input features.")
    models: Models = Field(default_factory=Models, description="Candidate models.")
    tuning: Tuning = Field(default_factory=Tuning, description="Hyperparameter search.")
    compute: Compute = Field(
        default_factory=Compute, description="Where CV and search run (local or Dask)."
    )
    readiness: Readiness = Field(default_factory=Readiness, description="Readiness gate.")
    evaluation: Evaluation = Field(default_factory=Evaluation, description="Evaluation.")
    tracking: Tracking = Field(default_factory=Tracking, description="Tracking and registry.")
    deploy: Deploy = Field(
        default_factory=Deploy, description="Registration, promotion and serving."
    )
    monitor: Monitor = Field(
        default_factory=Monitor, description="Production monitoring (mlctl monitor)."
    )

    @property
    def model_name(self) -> str:
        return self.deploy.model_name or self.name

    @property
    def selection_metric(self) -> str:
        if self.models.selection_metric:
            return self.models.selection_metric
        return "roc_auc" if self.task == "classification" else "rmse"
