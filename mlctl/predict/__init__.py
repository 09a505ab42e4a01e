"""Batch scoring: a registered model applied to CSV or Parquet files, chunk by chunk.

:func:`mlctl.predict.batch.predict_batch` is the library call behind ``mlctl predict``;
:mod:`mlctl.predict.validate` holds the pure row checks against the model's signature
and :mod:`mlctl.predict.files` the chunked readers and the atomic writers.
"""
