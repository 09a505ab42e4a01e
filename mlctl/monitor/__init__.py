"""Monitoring a served model: what production sent, how it scored, whether it drifted."""
