"""Recipe loading, schema and cross-field checks."""
