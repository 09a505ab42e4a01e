"""Alias of :mod:`mlctl_runtime.coerce` (the code a logged model carries with it).

``mlctl.features.coerce`` IS that module (same object, private names included), so
existing imports keep working.
"""

import sys

from mlctl_runtime import coerce

sys.modules[__name__] = coerce
