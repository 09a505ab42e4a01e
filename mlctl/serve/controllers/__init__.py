"""One Litestar controller per protocol ``mlctl serve`` speaks."""

from mlctl.serve.controllers.dashboard import Dashboard
from mlctl.serve.controllers.mlctl_api import MlctlApi
from mlctl.serve.controllers.mlflow_scoring import MlflowScoring
from mlctl.serve.controllers.oip_v2 import OpenInferenceV2
from mlctl.serve.controllers.operations import Operations

CONTROLLERS = [MlctlApi, MlflowScoring, OpenInferenceV2, Operations, Dashboard]
