"""``kwarg-guard run``: fix a training script you cannot edit, with no line changed in it.

    kwarg-guard run --preset higgs_audio -- python train.py --lr 1e-4
    kwarg-guard run --preset higgs_audio -- torchrun --nproc_per_node 8 train.py
    kwarg-guard run --preset higgs_audio --report -- accelerate launch train.py
    kwarg-guard list

The command runs with the presets, and the modules whose import installs them, named in the
environment, and this package's ``sitecustomize`` first on ``PYTHONPATH``: every Python process
it starts, and every one those start, installs the presets as soon as it imports what they guard
(or kwarg_guard), and pays nothing if it never does. The command's exit code is passed through.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence

from ._run_settings import PRESETS_VARIABLE, REPORT_VARIABLE, SITE_DIRECTORY, TRIGGERS_VARIABLE
from .presets import Preset, available_presets, get_preset, installable

__all__ = ["main"]

_USAGE_ERROR = 2
_EXAMPLES = """\
examples:
  kwarg-guard run --preset higgs_audio -- python train.py --lr 1e-4
  kwarg-guard run --preset higgs_audio --report -- torchrun --nproc_per_node 2 train.py
  kwarg-guard list
"""


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
    if options.list or options.action == "list":
        if extra or command:
            unexpected = " ".join([*extra, *(["--", *command] if command else [])])
            raise _Refusal(f"kwarg-guard list takes no arguments (got: {unexpected})")
        _print_presets()
        return 0
    if options.action is None:
        raise _Refusal("say what to do: kwarg-guard run --preset NAME -- COMMAND, or kwarg-guard list")
    presets = [_checked(name) for name in options.preset]
    example = "kwarg-guard run" + "".join(f" --preset {preset.name}" for preset in presets)
    if extra and extra[0].startswith("-"):
        raise _Refusal(f"unrecognized option {extra[0]} (see kwarg-guard run --help)")
    if extra:
        raise _Refusal(f"put the command after --, e.g. {example} -- {' '.join(extra)}")
    if not command:
        raise _Refusal(f"kwarg-guard run needs a command after --, e.g. {example} -- python train.py")
    for preset in presets:
        _say_if_it_can_never_apply(preset)
    return _run(command, _environment(presets, options.report))


class _RefusingParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Refusal(f"{message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _RefusingParser(
        prog="kwarg-guard",
        description="Run a command with kwarg_guard presets installed in every Python process it starts.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--list", action="store_true", help="list the presets with their descriptions and exit")
    actions = parser.add_subparsers(dest="action", metavar="{run,list}")
    run = actions.add_parser(
        "run",
        help="run a command with presets installed in every Python process it starts",
        usage="%(prog)s [-h] [--preset NAME] [--report] -- COMMAND [ARG ...]",
        description=(
            "Run COMMAND with the presets installed in every Python process it starts, and every\n"
            "one those start (torchrun ranks, accelerate launch, DataLoader workers). A process\n"
            "installs them when it imports what they guard, or kwarg_guard; one that never does\n"
            "pays nothing. The command's exit code is passed through."
        ),
        epilog=_EXAMPLES.replace("  kwarg-guard list\n", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--preset",
        action="append",
        default=[],
        metavar="NAME",
        help="a preset to install in every Python process (repeatable); see kwarg-guard list",
    )
    run.add_argument(
        "--report", action="store_true", help="each Python process prints what its guards did when it exits"
    )
    actions.add_parser(
        "list",
        help="list the presets with their descriptions",
        usage="%(prog)s [-h]",
        description="List the presets (built in and from installed plugins), one a line, with what each does.",
    )
    return parser


def _checked(name: str) -> Preset:
    try:
        preset = get_preset(name)
        installable(preset)
    except ValueError as exc:
        raise _Refusal(str(exc)) from None
    return preset


def _say_if_it_can_never_apply(preset: Preset) -> None:
    # The command still runs: its Python may be another environment's. But a preset that guards
    # nothing here, silently, looks exactly like one that found nothing to fix.
    if preset.requires is None or preset.requirement_missing() is None:
        return
    fitting = preset.fitting_alternative()
    if fitting is not None:
        instead = f"use --preset {fitting.name} instead, which guards {installable(fitting)[1]}"
    else:
        instead = preset.install_hint or f"install {preset.requires}"
    sys.stderr.write(
        f"kwarg-guard: preset {preset.name!r} can never apply in this environment: it guards "
        f"{installable(preset)[1]}, which needs {preset.requires}, and this environment lacks it; {instead}\n"
    )


def _environment(presets: list[Preset], report: bool) -> dict[str, str]:
    environment = dict(os.environ)
    # Nested launchers add up: a preset named by an outer one stays installed.
    for variable, names in (
        (PRESETS_VARIABLE, [preset.name for preset in presets]),
        (TRIGGERS_VARIABLE, [installable(preset)[0] for preset in presets]),
    ):
        inherited = [name for name in environment.get(variable, "").split(",") if name]
        environment[variable] = ",".join(dict.fromkeys(inherited + names))
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
