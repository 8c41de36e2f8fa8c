"""Run by every Python process that ``kwarg-guard run`` starts, before the program's own code:
install the presets named in the environment, then run the ``sitecustomize`` this one shadows.

It never stops a process: a Python without kwarg_guard (another environment) says so on stderr
and runs unguarded.
"""

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _start() -> None:
    try:
        from kwarg_guard._startup import start_from_environment
    except Exception as exc:
        sys.stderr.write(
            f"kwarg-guard: this Python ({sys.executable}) cannot import kwarg_guard ({exc}); it runs unguarded\n"
        )
    else:
        start_from_environment()


def _run_the_shadowed_sitecustomize() -> None:
    # Python imports the first sitecustomize on sys.path, which is this one: find the next one
    # (a user's, or the environment's) and run it as if it had been imported instead.
    others = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_start()
_run_the_shadowed_sitecustomize()
