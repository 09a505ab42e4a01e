"""Alias of :mod:`mlctl_runtime.transformers` (the code a logged model carries with it).

``mlctl.features.transformers`` IS that module (same object, private names included), so
existing imports keep working, and models logged before mlctl_runtime existed (whose
skops files name ``mlctl.features.transformers.ColumnCoercer``) still load.
"""

import sys

from mlctl_runtime import transformers

sys.modules[__name__] = transformers
