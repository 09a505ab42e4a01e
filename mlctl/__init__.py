"""mlctl: one YAML recipe to a validated, trained, gated and registered model."""

from mlctl._runtime import pin_runtime

__version__ = "0.1.0"

pin_runtime()
