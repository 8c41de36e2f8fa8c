"""``kwarg-guard run``: fix a training script you cannot edit, with no line changed in it.

    kwarg-guard run --preset higgs_audio -- python train.py --lr 1e-4
    kwarg-guard run --preset higgs_audio -- torchrun --nproc_per_node 8 train.py
    kwarg-guard run --preset higgs_audio --report -- accelerate launch train.py
    kwarg-guard list

The command runs with the presets named in the environment and this package's
``sitecustomize`` first on ``PYTHONPATH``, so every Python process it starts, and every one
those start, installs the presets before the program's own code runs. The command's exit code
is passed through.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence

from ._install import installable
from ._startup import PRESETS_VARIABLE, REPORT_VARIABLE, SITE_DIRECTORY
from .presets import available_presets, get_preset

__all__ = ["main"]

_USAGE_ERROR = 2


class _Refusal(Exception):
    """A user error: one line on stderr, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kwarg-guard`` command; returns the exit code (the command's, for ``run``)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(arguments)
    except _Refusal as refusal:
        sys.stderr.write(f"kwarg-guard: {refusal}\n")
        return _USAGE_ERROR


def _dispatch(arguments: list[str]) -> int:
    command: list[str] = []
    if "--" in arguments:
        split = arguments.index("--")
        arguments, command = arguments[:split], arguments[split + 1 :]
    options, extra = _parser().parse_known_args(arguments)
    if extra:
        raise _Refusal(
            f"unrecognized arguments: {' '.join(extra)}; put the command after --, e.g. kwarg-guard run --preset NAME -- {' '.join(extra)}"
        )
    if options.list or options.action == "list":
        _print_presets()
        return 0
    if options.action != "run":
        raise _Refusal("say what to do: kwarg-guard run --preset NAME -- COMMAND, or kwarg-guard list")
    if not command:
        raise _Refusal(
            "kwarg-guard run needs a command after --, e.g. kwarg-guard run --preset higgs_audio -- python train.py"
        )
    presets = [_checked(name) for name in options.preset]
    return _run(command, _environment(presets, options.report))


def _parser() -> argparse.ArgumentParser:
    parser = _RefusingParser(
        prog="kwarg-guard",
        description="Run a command with kwarg_guard presets installed in every Python process it starts.",
        epilog="Example: kwarg-guard run --preset higgs_audio --report -- torchrun --nproc_per_node 2 train.py",
    )
    parser.add_argument(
        "action", nargs="?", choices=("run", "list"), help="run the command given after --, or list the presets"
    )
    parser.add_argument(
        "--preset",
        action="append",
        default=[],
        metavar="NAME",
        help="a preset to install in every Python process (repeatable); see kwarg-guard list",
    )
    parser.add_argument(
        "--report", action="store_true", help="each Python process prints what its guards did when it exits"
    )
    parser.add_argument("--list", action="store_true", help="list the presets with their descriptions and exit")
    return parser


class _RefusingParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Refusal(f"{message} (see kwarg-guard --help)")


def _checked(name: str) -> str:
    try:
        installable(get_preset(name))
    except ValueError as exc:
        raise _Refusal(str(exc)) from None
    return name


def _environment(presets: list[str], report: bool) -> dict[str, str]:
    environment = dict(os.environ)
    # Nested launchers add up: a preset named by an outer one stays installed.
    inherited = [name for name in environment.get(PRESETS_VARIABLE, "").split(",") if name]
    environment[PRESETS_VARIABLE] = ",".join(dict.fromkeys(inherited + presets))
    if report:
        environment[REPORT_VARIABLE] = "1"
    paths = [SITE_DIRECTORY] + [
        p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p and p != SITE_DIRECTORY
    ]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


def _run(command: list[str], environment: dict[str, str]) -> int:
    try:
        if os.name == "posix":
            # The command takes this process over: signals, exit code and terminal are its own.
            os.execvpe(command[0], command, environment)
        return subprocess.run(command, env=environment).returncode
    except OSError as exc:
        raise _Refusal(f"cannot run {command[0]!r}: {exc.strerror or exc}") from None


def _print_presets() -> None:
    presets = available_presets()
    width = max((len(name) for name in presets), default=0)
    for name in sorted(presets):
        sys.stdout.write(f"{name.ljust(width)}  {presets[name].description}\n")
