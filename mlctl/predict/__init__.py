"""Batch scoring: a registered model applied to CSV or Parquet files, chunk by chunk.

:func:`mlctl.predict.batch.predict_batch` is the library call behind ``mlctl predict``;
:mod:`mlctl.predict.validate` holds the pure row checks against the model's signature,
:mod:`mlctl.predict.score` the per-chunk work both engines (local, dask) share, and
:mod:`mlctl.predict.files` the chunked readers, the Dask partitions and the atomic writers.
"""
