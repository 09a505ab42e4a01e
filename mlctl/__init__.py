"""mlctl: one YAML recipe to a validated, trained, gated and registered model."""

__version__ = "0.1.0"
