"""Adding and removing guard layers on module instances and on classes.

Every change builds the new guarded forward completely (which validates it) before a single
assignment publishes it, under one lock: a concurrent call sees the old forward or the new
one, never a half-installed patch, and an error leaves every module as it was.
"""

from __future__ import annotations

import threading

from ._guarded import GuardedForward, GuardedFunction, Layer
from ._ledger import LOGGER
from ._rules import Rules

__all__ = ["add_layer", "remove_layer", "guard_class", "unguard_class", "layers_of", "LOCK"]

LOCK = threading.RLock()


def layers_of(module) -> tuple:
    """The guard layers on ``module`` (empty when it is not guarded)."""
    current = module.__dict__.get("forward")
    return current.layers if isinstance(current, GuardedForward) else ()


def add_layer(modules: list, layer: Layer) -> None:
    """Add ``layer`` to every module, all or none."""
    with LOCK:
        built = [(module, _with_layer(module, layer)) for module in modules]
        for module, forward in built:
            module.__dict__["forward"] = forward


def remove_layer(modules, seq: int) -> None:
    """Remove the layer ``seq`` wherever it is; restore a module exactly when none is left."""
    with LOCK:
        for module in modules:
            current = module.__dict__.get("forward")
            if not isinstance(current, GuardedForward):
                _stranded(module, seq)
                continue
            remaining = tuple(layer for layer in current.layers if layer.seq != seq)
            if remaining == current.layers:
                continue
            if remaining:
                module.__dict__["forward"] = GuardedForward(module, current.previous, remaining)
            elif current.previous:
                module.__dict__["forward"] = current.previous[0]
            else:
                del module.__dict__["forward"]


def _with_layer(module, layer: Layer) -> GuardedForward:
    current = module.__dict__.get("forward", _ABSENT)
    if isinstance(current, GuardedForward):
        # Also right after a shallow copy, whose guard still points at the original module:
        # rebuilding binds the layers to this module.
        return GuardedForward(module, current.previous, current.layers + (layer,))
    previous = () if current is _ABSENT else (current,)
    return GuardedForward(module, previous, (layer,))


def _stranded(module, seq: int) -> None:
    # Someone replaced forward while we were installed (accelerate's add_hook_to_module keeps our
    # guard as its _old_forward). We cannot restore under their wrapper; say so rather than
    # silently leave rules active.
    LOGGER.warning(
        "%s.forward was replaced while guarded (layer %d), so kwarg_guard could not remove its "
        "guard from inside the new wrapper; remove that wrapper first, then the guard",
        type(module).__name__, seq,
    )


_ABSENT = object()


def guard_class(cls: type, rules: Rules) -> GuardedFunction:
    """Replace ``cls.forward`` by a guard (a no-op when the same rules already guard it)."""
    with LOCK:
        current = cls.__dict__.get("forward", _ABSENT)
        if isinstance(current, GuardedFunction) and current.owner is cls and current.own_rules == rules:
            return current
        replaced = () if current is _ABSENT else (current,)
        guarded = GuardedFunction(cls.forward, rules, owner=cls, replaced=replaced)
        cls.forward = guarded
        return guarded


def unguard_class(cls: type) -> None:
    """Undo the most recent ``kwarg_guard(cls, ...)``."""
    from .errors import NotGuardedError

    with LOCK:
        current = cls.__dict__.get("forward")
        if not (isinstance(current, GuardedFunction) and current.owner is cls):
            raise NotGuardedError(f"{cls.__qualname__}.forward is not guarded by kwarg_guard(cls); nothing to undo")
        if current.replaced:
            cls.forward = current.replaced[0]
        else:
            del cls.forward
