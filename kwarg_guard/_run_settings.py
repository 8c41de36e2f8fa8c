"""The environment variables ``kwarg-guard run`` passes its choices down in, and where its
``sitecustomize`` lives. Torch-free: the launcher reads them before anything is guarded, and the
``sitecustomize`` module keeps its own copy of the names (it cannot import the package).
"""

from __future__ import annotations

import os

__all__ = ["PRESETS_VARIABLE", "REPORT_VARIABLE", "SITE_DIRECTORY", "TRIGGERS_VARIABLE"]

PRESETS_VARIABLE = "KWARG_GUARD_PRESETS"  # comma-separated preset names
TRIGGERS_VARIABLE = "KWARG_GUARD_TRIGGERS"  # comma-separated modules whose import installs them
REPORT_VARIABLE = "KWARG_GUARD_REPORT"  # "1": print report() at exit
SITE_DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_site")
