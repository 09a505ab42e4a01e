"""Where CV, search and batch scoring run: this machine, or a Dask cluster.

:func:`mlctl.compute.session.open_session` turns a recipe's ``compute`` section into a
session; :mod:`mlctl.compute.settings` holds the pure parts (address form, LocalCluster
size). Dask and distributed are imported here only (docs/dask.md).
"""
