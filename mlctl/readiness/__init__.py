"""The readiness gate a model must pass before it can become champion."""
