"""mlctl_runtime: the code a logged mlctl model needs to load and predict, and nothing else.

The pipeline's own transformers (:mod:`mlctl_runtime.transformers`), the coercion and
expression rules they apply (:mod:`mlctl_runtime.coerce`, :mod:`mlctl_runtime.expressions`)
and the errors they raise (:mod:`mlctl_runtime.errors`). These modules import only the
standard library, numpy, pandas and scikit-learn, never ``mlctl``: ``mlctl run`` copies
this package into every logged model (MLflow ``code_paths``), so the model loads and
predicts where mlctl is not installed (``mlflow models serve``, KServe/MLServer's MLflow
runtime, a notebook with only the model's ``requirements.txt``).

The skops file records the classes under this name (``mlctl_runtime.transformers.
ColumnCoercer``), which is distinct from ``mlctl`` on purpose: MLflow puts a model's
``code`` folder on ``sys.path`` when it loads the model, and a bundled ``mlctl`` would
shadow the installed one. mlctl itself imports this package first (``mlctl/__init__.py``),
so the installed copy, not a model's, is the one mlctl uses.

Keep this ``__init__`` free of imports: importing the package must stay instant.
"""
