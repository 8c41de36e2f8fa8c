"""Guard a library's class the moment its module is imported: ``install(preset)`` / ``uninstall``.

For code you do not control: one line before importing it, and every instance of the preset's
target class is guarded through the class door (``kwarg_guard(SomeClass, ...)``). The hook is
wrapt's post-import hook, so it also fires at once if the module is already imported.
"""

from __future__ import annotations

import threading

import wrapt

from ._ledger import LOGGER
from ._patching import guard_class, unguard_class
from .errors import NotGuardedError
from .presets import get_preset

__all__ = ["install", "uninstall", "installed"]

_LOCK = threading.Lock()
_INSTALLED: dict = {}  # preset name -> _Installation


class _Installation:
    def __init__(self, preset, module_name, class_name, rules):
        self.preset, self.module_name, self.class_name, self.rules = preset, module_name, class_name, rules
        self.active = True
        self.guarded = None  # the class, once the hook has fired

    def hook(self, module):
        # wrapt keeps hooks for good; an uninstalled one just does nothing when it fires.
        if not self.active:
            return
        cls = getattr(module, self.class_name, None)
        if not isinstance(cls, type):
            # Failing the user's import would be worse than an unguarded class: say it loudly.
            LOGGER.error(
                "kwarg_guard.install(%r): module %s has no class %s; nothing was guarded",
                self.preset.name, self.module_name, self.class_name,
            )
            return
        guard_class(cls, self.rules)
        self.guarded = cls


def install(preset: str):
    """Guard the preset's target class as soon as its module is imported (now, if it already is).

    Returns what ``installed()`` lists for it. Installing an installed preset is a no-op.

    Raises:
        ValueError: unknown preset, or one whose ``target`` is not a qualified class name
            (``"package.module.Class"``) or a class.
    """
    chosen = get_preset(preset)
    module_name, class_name = _split_target(chosen)
    with _LOCK:
        if chosen.name in _INSTALLED:
            return _INSTALLED[chosen.name]
        installation = _INSTALLED[chosen.name] = _Installation(chosen, module_name, class_name, chosen.rules)
    if isinstance(chosen.target, type):
        # The class itself is at hand (it may be local or nested, where no import could find it
        # again): guard it now.
        guard_class(chosen.target, chosen.rules)
        installation.guarded = chosen.target
    else:
        wrapt.register_post_import_hook(installation.hook, module_name)
    return installation


def uninstall(preset: str) -> None:
    """Undo ``install``: unguard the class if the hook fired, and disarm the hook if not.

    Raises:
        NotGuardedError: the preset is not installed.
    """
    with _LOCK:
        installation = _INSTALLED.pop(preset, None)
    if installation is None:
        raise NotGuardedError(f"preset {preset!r} is not installed; installed: {', '.join(sorted(_INSTALLED)) or 'none'}")
    installation.active = False
    if installation.guarded is not None:
        unguard_class(installation.guarded)


def installed() -> dict:
    """Preset name -> installation (``.module_name``, ``.class_name``, ``.guarded`` class or None)."""
    with _LOCK:
        return dict(_INSTALLED)


def _split_target(preset) -> tuple:
    target = preset.target
    if isinstance(target, type):
        return target.__module__, target.__qualname__
    if isinstance(target, str) and "." in target:
        return tuple(target.rsplit(".", 1))
    raise ValueError(
        f"install() needs a preset whose target is a class or 'package.module.Class'; "
        f"preset {preset.name!r} has target {target!r} (use patched()/guard() with it instead)"
    )
