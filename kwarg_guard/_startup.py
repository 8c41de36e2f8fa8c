"""What a Python process started by ``kwarg-guard run`` does first: install the presets the
launcher named, and print this process's report at exit when asked.

The launcher passes its choices down in environment variables, so every Python process the
command starts (torchrun ranks, ``accelerate launch``, DataLoader workers started with spawn)
reads them, through the ``sitecustomize`` module the launcher puts first on ``PYTHONPATH``.
"""

from __future__ import annotations

import atexit
import os
import sys

from ._doors import report
from ._install import install
from ._ledger import keep_every_ledger

__all__ = ["PRESETS_VARIABLE", "REPORT_VARIABLE", "SITE_DIRECTORY", "start_from_environment"]

PRESETS_VARIABLE = "KWARG_GUARD_PRESETS"  # comma-separated preset names
REPORT_VARIABLE = "KWARG_GUARD_REPORT"  # "1": print report() at exit
SITE_DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_site")


def start_from_environment() -> None:
    """Install the presets named in the environment; a preset that cannot be installed is said
    on stderr, and never stops the process."""
    for name in filter(None, os.environ.get(PRESETS_VARIABLE, "").split(",")):
        try:
            install(name)
        except Exception as exc:
            _say(f"preset {name!r} not installed in this process: {exc}")
    if os.environ.get(REPORT_VARIABLE) == "1":
        keep_every_ledger()
        atexit.register(_print_report)


def _print_report() -> None:
    rank = os.environ.get("RANK")
    who = f"pid {os.getpid()}" + (f", rank {rank}" if rank is not None else "")
    program = " ".join(sys.argv) or sys.executable
    sys.stderr.write(f"kwarg-guard report for {program} ({who}):\n{report()}\n")
    sys.stderr.flush()


def _say(message: str) -> None:
    sys.stderr.write(f"kwarg-guard: {message}\n")
