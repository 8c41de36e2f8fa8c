"""Run by every Python process that ``kwarg-guard run`` starts, before the program's own code.

A process that never imports what its presets guard (a helper script, pip, a shell-out) must
not pay for them, and ``import kwarg_guard`` loads torch. So this module imports neither: it
puts an import hook on the modules the launcher named (each preset's target module, and
kwarg_guard itself), and the first time the program imports one of them it installs the
presets, before that import returns, so the class is guarded before the program can use it.
Then it runs the ``sitecustomize`` this one shadows.

It never stops a process: a Python without kwarg_guard (another environment) says so on stderr
and runs unguarded.
"""

import atexit
import importlib.machinery
import importlib.util
import os
import sys
import threading

# The names kwarg_guard._run_settings gives them; importing the package from here would hook itself.
_PRESETS_VARIABLE = "KWARG_GUARD_PRESETS"
_TRIGGERS_VARIABLE = "KWARG_GUARD_TRIGGERS"
_REPORT_VARIABLE = "KWARG_GUARD_REPORT"

_HERE = os.path.dirname(os.path.abspath(__file__))
_PACKAGE = "kwarg_guard"
_STATE = {"armed": False, "installed": False, "unavailable": ""}
_LOCK = threading.RLock()


def _names(variable):
    return [name for name in os.environ.get(variable, "").split(",") if name]


class _InstallOnImport:
    """A ``sys.meta_path`` finder that leaves every import to the others, and hooks the loading
    of the trigger modules so that the presets are installed once the first of them has run."""

    def __init__(self, triggers):
        self.triggers = frozenset(triggers)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.triggers:
            return None
        for finder in list(sys.meta_path):
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ThenInstall(spec.loader)
                return spec
        return None


class _ThenInstall:
    """The module's own loader, and then the presets. Anything else is the original loader's."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # The module keeps its real loader, for inspect, pkgutil and reloads.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _install_presets()


def _install_presets():
    with _LOCK:
        if _STATE["armed"]:
            return
        _STATE["armed"] = True
        # From here on wrapt's post-import hooks, installed by kwarg_guard.install, take over.
        sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _InstallOnImport)]
        try:
            from kwarg_guard._startup import install_from_environment
        except Exception as exc:
            _STATE["unavailable"] = f"this Python ({sys.executable}) cannot import kwarg_guard ({exc})"
            sys.stderr.write(f"kwarg-guard: {_STATE['unavailable']}; it runs unguarded\n")
            return
        install_from_environment()
        _STATE["installed"] = True


def _program():
    """The command line that started this process (``python -c "..."``, ``python train.py``),
    on one line and short enough for a heading; quoted for reading, not for a shell."""
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    words = [" ".join(word.split()) for word in [os.path.basename(argv[0]), *argv[1:]]]
    line = " ".join(f'"{word}"' if " " in word and '"' not in word else word for word in words)
    return line if len(line) <= 100 else line[:97] + "..."


def _print_report():
    rank = os.environ.get("RANK")
    who = f"pid {os.getpid()}" + (f", rank {rank}" if rank is not None else "")
    if _STATE["installed"]:
        from kwarg_guard._startup import report_of_this_process

        text = report_of_this_process()
    elif _STATE["unavailable"]:
        text = f"nothing guarded: {_STATE['unavailable']}"
    else:
        modules = ", ".join(_names(_TRIGGERS_VARIABLE))
        text = "nothing guarded: this process never imported " + (
            f"what its presets guard ({modules})" if modules else _PACKAGE
        )
    sys.stderr.write(f"kwarg-guard report for {_program()} ({who}):\n{text}\n")
    sys.stderr.flush()


def _start():
    presets, triggers = _names(_PRESETS_VARIABLE), _names(_TRIGGERS_VARIABLE)
    report = os.environ.get(_REPORT_VARIABLE) == "1"
    if not presets and not report:
        return
    if report:
        atexit.register(_print_report)
    if (presets and not triggers) or any(name in sys.modules for name in triggers):
        # Presets named by hand, without the modules to wait for, or those already imported.
        _install_presets()
        return
    sys.meta_path.insert(0, _InstallOnImport([*triggers, _PACKAGE]))


def _run_the_shadowed_sitecustomize():
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
