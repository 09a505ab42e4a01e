"""MLflow tracking runs and the model registry (MLflow is imported only here)."""
