"""Guard a library's models the moment its module is imported: ``install(preset)`` / ``uninstall``.

For code you do not control: one line before importing it (or none, with ``kwarg-guard run``).
What gets guarded depends on the preset's target:

* a class object: guarded at once, through ``kwarg_guard(SomeClass, ...)``, wherever it is defined;
* ``"package.module.Class"``: that class, as soon as its module is imported;
* the model a wrapper holds (``peft_headless``: the model every PEFT tuner adapts): each model is
  guarded as the wrapper is built, by hooking the wrapper class's ``__init__``.

The import hooks are wrapt's post-import hooks, which also fire at once if the module is already
imported.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any

import wrapt

from ._guarded import Layer
from ._holders import HeldModels
from ._keyword_log import LOGGER
from ._patching import add_layer, guard_class, remove_layer, unguard_class
from ._targets import find_targets
from .errors import NotGuardedError
from .presets import Preset, get_preset, installable

__all__ = ["Installation", "install", "installable", "installed", "uninstall"]

_LOCK = threading.Lock()
_INSTALLED: dict[str, Installation] = {}


class Installation:
    """One installed preset.

    Attributes:
        preset: the ``Preset``.
        module_name: the module whose import triggers the guard.
        class_name: the class guarded (or whose ``__init__`` guards what it holds).
        guarded: that class, once the hook has fired; ``None`` before.
    """

    def __init__(self, preset: Preset, module_name: str, class_name: str):
        self.preset, self.module_name, self.class_name = preset, module_name, class_name
        self.active = True
        self.guarded: type | None = None
        self._original_init: Any = None
        self._layers: weakref.WeakKeyDictionary[Any, Layer] = weakref.WeakKeyDictionary()

    def hook(self, module: Any) -> None:
        """Runs inside the program's ``import`` of the module, so it never raises: failing that
        import would be worse than an unguarded class. What goes wrong is said loudly instead,
        as an error on the ``kwarg_guard`` logger (on stderr unless logging is configured)."""
        # wrapt keeps hooks for good; an uninstalled one just does nothing when it fires.
        if not self.active:
            return
        cls = getattr(module, self.class_name, None)
        if not isinstance(cls, type):
            LOGGER.error(
                "kwarg_guard.install(%r): module %s has no class %s; nothing was guarded",
                self.preset.name,
                self.module_name,
                self.class_name,
            )
            return
        try:
            self.apply(cls)
        except Exception as exc:
            LOGGER.error(
                "kwarg_guard.install(%r): %s.%s cannot take this preset (%s); it runs unguarded",
                self.preset.name,
                self.module_name,
                self.class_name,
                exc,
            )

    def apply(self, cls: type) -> None:
        if isinstance(self.preset.target, HeldModels):
            self._guard_what_it_builds(cls)
        else:
            guard_class(cls, self.preset.rules)
        self.guarded = cls

    def _guard_what_it_builds(self, holder: type) -> None:
        original = holder.__dict__.get("__init__")
        inherited = vars(holder).get("__init__") or next(
            vars(base)["__init__"] for base in holder.__mro__ if "__init__" in vars(base)
        )
        installation = self

        @functools.wraps(inherited)
        def __init__(wrapper: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807 (replaces __init__)
            inherited(wrapper, *args, **kwargs)
            if installation.active:
                installation.guard_inside(wrapper)

        self._original_init = original
        holder.__init__ = __init__  # type: ignore[misc]

    def guard_inside(self, wrapper: Any) -> None:
        try:
            models = find_targets(wrapper, self.preset.target)
        except LookupError:
            return  # this wrapper holds no model of that kind (PEFT prompt learning, say)
        for model in models:
            if model not in self._layers:
                layer = Layer.new(self.preset.rules, "guard")
                add_layer([model], layer)
                self._layers[model] = layer

    def remove(self) -> None:
        self.active = False
        if self.guarded is None:
            return
        if isinstance(self.preset.target, HeldModels):
            if self._original_init is None:
                del self.guarded.__init__  # type: ignore[misc]
            else:
                self.guarded.__init__ = self._original_init  # type: ignore[misc]
            for model, layer in list(self._layers.items()):
                remove_layer([model], layer.token)
        else:
            unguard_class(self.guarded)


def install(preset: str) -> Installation:
    """Guard what the preset targets as soon as its module is imported (now, if it already is).

    Returns what ``installed()`` lists for it. Installing an installed preset is a no-op.

    >>> from kwarg_guard import install, installed, uninstall
    >>> install("peft_headless").class_name
    'BaseTuner'
    >>> "peft_headless" in installed()
    True
    >>> uninstall("peft_headless")

    Raises:
        ValueError: unknown preset, or one whose target is neither a class, a qualified class
            name (``"package.module.Class"``) nor a model held by a known wrapper.
    """
    chosen = get_preset(preset)
    module_name, class_name = installable(chosen)
    with _LOCK:
        if chosen.name in _INSTALLED:
            return _INSTALLED[chosen.name]
        installation = _INSTALLED[chosen.name] = Installation(chosen, module_name, class_name)
    if isinstance(chosen.target, type):
        # The class itself is at hand (it may be local or nested, where no import could find it
        # again): guard it now.
        installation.apply(chosen.target)
    else:
        wrapt.register_post_import_hook(installation.hook, module_name)
    return installation


def uninstall(preset: str) -> None:
    """Undo ``install``: remove what it guarded, and disarm its hook if it has not fired.

    >>> from kwarg_guard import install, installed, uninstall
    >>> _ = install("peft_headless")
    >>> uninstall("peft_headless")
    >>> "peft_headless" in installed()
    False

    Raises:
        NotGuardedError: the preset is not installed.
    """
    with _LOCK:
        installation = _INSTALLED.pop(preset, None)
    if installation is None:
        raise NotGuardedError(
            f"preset {preset!r} is not installed; installed: {', '.join(sorted(_INSTALLED)) or 'none'}"
        )
    installation.remove()


def installed() -> dict[str, Installation]:
    """Preset name -> ``Installation`` (``.module_name``, ``.class_name``, ``.guarded``).

    >>> from kwarg_guard import install, installed, uninstall
    >>> _ = install("peft_headless")
    >>> installed()["peft_headless"].module_name
    'peft.tuners.tuners_utils'
    >>> uninstall("peft_headless")
    """
    with _LOCK:
        return dict(_INSTALLED)
