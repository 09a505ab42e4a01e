"""Training: candidates, cross-validation and hyperparameter search."""
