"""What a Python process started by ``kwarg-guard run`` does once it imports what a preset
guards (or kwarg_guard itself): install the presets the launcher named, and, when asked, keep
what the guards do for the report printed at exit.

The launcher passes its choices down in environment variables, so every Python process the
command starts (torchrun ranks, ``accelerate launch``, DataLoader workers started with spawn)
reads them, through the ``sitecustomize`` module the launcher puts first on ``PYTHONPATH``. That
module waits for the first import of a trigger module before importing this one, which loads
torch.
"""

from __future__ import annotations

import os
import sys

from ._api import report
from ._install import install, installed
from ._keyword_log import keep_every_keyword_log
from ._run_settings import PRESETS_VARIABLE, REPORT_VARIABLE, SITE_DIRECTORY, TRIGGERS_VARIABLE

__all__ = [
    "PRESETS_VARIABLE",
    "REPORT_VARIABLE",
    "SITE_DIRECTORY",
    "TRIGGERS_VARIABLE",
    "install_from_environment",
    "report_of_this_process",
]


def install_from_environment() -> None:
    """Install the presets named in the environment; a preset that cannot be installed is said
    on stderr, and never stops the process."""
    if os.environ.get(REPORT_VARIABLE) == "1":
        keep_every_keyword_log()
    for name in filter(None, os.environ.get(PRESETS_VARIABLE, "").split(",")):
        try:
            install(name)
        except Exception as exc:
            sys.stderr.write(f"kwarg-guard: preset {name!r} not installed in this process: {exc}\n")


def report_of_this_process() -> str:
    """``report()`` of every guard in the process, and a line for each preset that guarded
    nothing because its module was never imported."""
    idle = [
        f"preset {name!r} guarded nothing: this process never imported {installation.module_name}"
        for name, installation in sorted(installed().items())
        if installation.guarded is None
    ]
    return "\n".join([str(report()), *idle])
