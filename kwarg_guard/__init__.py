"""kwarg_guard: stop ``forward() got an unexpected keyword argument`` at the forward itself.

One rewrite of a call's keywords (remap, drop, refuse), installed in one of three ways:

* ``@kwarg_guard`` / ``kwarg_guard(SomeClass)`` — at definition time, for functions and classes;
* ``with patched(model):`` — for one block, restored exactly on exit;
* ``guard(model)`` / ``unguard(model)`` — until undone, surviving deepcopy, pickle, torch.save.

``report(model)`` says what was dropped or remapped, how often, and who passed it;
``explain(model, **inputs)`` dry-runs a call and says what each forward would receive.
``install(preset)`` guards a library's class as soon as it is imported;
``guard_every(SomeBase)`` guards every instance of a class as it is built.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and the API docs; at run time see __getattr__ below
    from ._api import guard, kwarg_guard, patched, report, unguard
    from ._every import guard_every
    from ._explain import Explanation, explain
    from ._install import install, installed, uninstall
    from ._keyword_log import KeywordRecord, Report
    from ._targets import unwrap_model
    from .errors import NotGuardedError, UnexpectedKeywordError, UnexpectedKeywordWarning
    from .presets import Preset, available_presets, get_preset, preset_problems, register_preset

# Where each public name lives. The package imports them on first use (PEP 562), so a command that
# only needs the presets (``kwarg-guard list``, ``--help``) starts without loading torch.
_WHERE = {
    "guard": "._api",
    "kwarg_guard": "._api",
    "patched": "._api",
    "report": "._api",
    "unguard": "._api",
    "guard_every": "._every",
    "Explanation": "._explain",
    "explain": "._explain",
    "install": "._install",
    "installed": "._install",
    "uninstall": "._install",
    "KeywordRecord": "._keyword_log",
    "Report": "._keyword_log",
    "unwrap_model": "._targets",
    "NotGuardedError": ".errors",
    "UnexpectedKeywordError": ".errors",
    "UnexpectedKeywordWarning": ".errors",
    "Preset": ".presets",
    "available_presets": ".presets",
    "get_preset": ".presets",
    "preset_problems": ".presets",
    "register_preset": ".presets",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'kwarg_guard' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Explanation",
    "KeywordRecord",
    "NotGuardedError",
    "Preset",
    "Report",
    "UnexpectedKeywordError",
    "UnexpectedKeywordWarning",
    "available_presets",
    "explain",
    "get_preset",
    "guard",
    "guard_every",
    "install",
    "installed",
    "kwarg_guard",
    "patched",
    "preset_problems",
    "register_preset",
    "report",
    "unguard",
    "uninstall",
    "unwrap_model",
]

__version__ = "0.2.0"
