"""What ``kwarg-guard run`` adds to the start-up of a Python process that never imports what its
presets guard (a helper script, pip, a shell-out).

    python -m kwarg_guard.benchmarks.startup [--rounds 21] [--preset higgs_audio ...]

Each round starts ``python -c pass`` three times, in an order that rotates from round to round,
so that a machine getting busier weighs on all: plainly; in the environment the launcher gives
its command (the presets and the modules whose import installs them named, this package's
``sitecustomize`` first on ``PYTHONPATH``); and in that environment without the modules, where
the presets are installed at start-up, for comparison. The extra start-up of a round is a
variant's time minus the plain one; the figures printed are medians over the rounds.
``kwarg-guard list`` is timed in the same rounds, for the command's own start-up.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time

from .._launcher import _environment
from .._run_settings import TRIGGERS_VARIABLE
from ..presets import get_preset

PROGRAM = [sys.executable, "-c", "pass"]
LISTING = [sys.executable, "-m", "kwarg_guard", "list"]


def _seconds(command: list[str], environment: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kwarg_guard.benchmarks.startup", description=__doc__)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--preset", action="append", default=None, metavar="NAME")
    options = parser.parse_args(argv)
    presets = [get_preset(name) for name in options.preset or ["higgs_audio", "peft_headless"]]
    launched = _environment(presets, report=False)
    eager = {name: value for name, value in launched.items() if name != TRIGGERS_VARIABLE}
    variants: list[tuple[str, dict[str, str] | None]] = [("plain", None), ("launched", launched), ("eager", eager)]
    plain: list[float] = []
    extra: dict[str, list[float]] = {"launched": [], "eager": []}
    listing: list[float] = []
    for round_ in range(options.rounds):
        turn = round_ % len(variants)
        times = {name: _seconds(PROGRAM, env) for name, env in variants[turn:] + variants[:turn]}
        plain.append(times["plain"])
        for name in extra:
            extra[name].append(times[name] - times["plain"])
        listing.append(_seconds(LISTING))
    print(f"python {platform.python_version()}, {platform.machine()}, {options.rounds} rounds, medians")
    print(f"presets: {', '.join(preset.name for preset in presets)}")
    print(f"python -c pass, plain:                  {statistics.median(plain):.3f} s")
    print(f"extra under kwarg-guard run:            {statistics.median(extra['launched']):+.3f} s")
    print(f"extra if installed at start-up:         {statistics.median(extra['eager']):+.3f} s")
    print(f"kwarg-guard list (python -m kwarg_guard): {statistics.median(listing):.3f} s")


if __name__ == "__main__":
    main()
