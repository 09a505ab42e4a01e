"""Feature engineering: safe derived-feature expressions, coercion, pipeline steps."""
