"""Which ``mlctl_runtime`` mlctl uses: always the one installed beside it.

A logged model carries a copy of ``mlctl_runtime`` in its ``code`` folder, and MLflow
puts that folder at the front of ``sys.path`` when it loads the model. In a process
where a model was loaded before mlctl was imported (a notebook), ``mlctl_runtime`` may
therefore be the model's copy, possibly from an older mlctl. :func:`pin_runtime` runs
when ``mlctl`` is imported and makes sure the package (and so every submodule imported
later, which Python looks up in the package's own folder) is the installed one.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

RUNTIME = "mlctl_runtime"


def installed_runtime_folder() -> Path:
    """The ``mlctl_runtime`` folder installed beside this ``mlctl`` package."""
    return Path(__file__).resolve().parent.parent / RUNTIME


def pin_runtime() -> None:
    """Import ``mlctl_runtime`` from beside mlctl, dropping a model's copy if one was loaded."""
    folder = installed_runtime_folder()
    init = folder / "__init__.py"
    if not init.is_file():  # an unusual layout: trust the normal import system
        importlib.import_module(RUNTIME)
        return
    loaded = sys.modules.get(RUNTIME)
    if loaded is not None and _folder(loaded) == folder:
        return
    for name in [n for n in sys.modules if n == RUNTIME or n.startswith(RUNTIME + ".")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        RUNTIME, init, submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[RUNTIME] = module
    spec.loader.exec_module(module)


def _folder(module: object) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve().parent if file else None
