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

from ._doors import guard, kwarg_guard, patched, report, unguard
from ._every import guard_every
from ._explain import Explanation, explain
from ._install import install, installed, uninstall
from ._ledger import KeywordRecord, Report
from ._targets import unwrap_model
from .errors import NotGuardedError, UnexpectedKeywordError, UnexpectedKeywordWarning
from .presets import Preset, available_presets, get_preset, preset_problems, register_preset

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

__version__ = "0.1.0"
