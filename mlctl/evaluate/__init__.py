"""Evaluation of trained models: metrics, plots, permutation importance and reports.

Modules:

- :mod:`mlctl.evaluate.metrics` -- the metric registry, test-set metrics, confusion
  matrices, thresholded predictions and the sklearn scorer names used for CV.
- :mod:`mlctl.evaluate.plots` -- PNG plots (ROC, PR, calibration, confusion matrix,
  importance, SHAP, residuals, predicted vs actual) drawn headless with Agg.
- :mod:`mlctl.evaluate.threshold` -- metrics by decision threshold, the rules that
  choose one (f1, youden, cost) and the threshold plot.
- :mod:`mlctl.evaluate.importance` -- permutation importance on the raw input columns.
- :mod:`mlctl.evaluate.explain` -- SHAP values per raw input column (optional ``shap``).
- :mod:`mlctl.evaluate.report` -- the Markdown and self-contained HTML model reports,
  built from :mod:`~mlctl.evaluate.report_sections` (the sections in reading order, as
  :mod:`~mlctl.evaluate.report_blocks`) with the number policy of
  :mod:`~mlctl.evaluate.report_format`.
- :mod:`mlctl.evaluate.insights` -- the report's insight sections in one call:
  :mod:`~mlctl.evaluate.calibration` (Brier, ECE), :mod:`~mlctl.evaluate.lift` (deciles),
  :mod:`~mlctl.evaluate.segments`, :mod:`~mlctl.evaluate.learning` (learning curve),
  their plots (:mod:`~mlctl.evaluate.insight_plots`), and
  :mod:`~mlctl.evaluate.recommend` (recommendations from the whole report context).
"""
