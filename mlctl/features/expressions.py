"""Alias of :mod:`mlctl_runtime.expressions` (the code a logged model carries with it).

``mlctl.features.expressions`` IS that module (same object, private names included), so
existing imports keep working.
"""

import sys

from mlctl_runtime import expressions

sys.modules[__name__] = expressions
