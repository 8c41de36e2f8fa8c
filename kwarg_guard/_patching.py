"""Adding and removing guard layers on module instances and on classes.

Every change builds the new guarded forward completely (which validates it) before a single
assignment publishes it, under one lock: a concurrent call sees the old forward or the new
one, never a half-installed patch, and an error leaves every module as it was.
"""

from __future__ import annotations

import threading

from ._guarded import GuardedForward, Layer, guard_function, state_of
from ._ledger import LOGGER
from ._rules import Rules

__all__ = ["add_layer", "remove_layer", "guard_class", "unguard_class", "layers_of", "find_guard", "LOCK"]

LOCK = threading.RLock()

# Where a guard sits in a module's __dict__. Normally "forward". On a module carrying an
# accelerate hook (_hf_hook + _old_forward), the hook's forward calls module._old_forward: the
# guard goes there, so the hook keeps running first and remove_hook_from_module, which moves
# _old_forward back to forward, keeps the guard.
_SLOTS = ("forward", "_old_forward")


def find_guard(module) -> tuple:
    """``(slot, GuardedForward)`` of the guard installed on ``module``, or ``(None, None)``."""
    for slot in _SLOTS:
        state = state_of(module.__dict__.get(slot))
        if isinstance(state, GuardedForward):
            return slot, state
    return None, None


def _new_slot(module) -> str:
    attributes = module.__dict__
    if "_hf_hook" in attributes and "_old_forward" in attributes:
        return "_old_forward"
    return "forward"


def layers_of(module) -> tuple:
    """The guard layers on ``module`` (empty when it is not guarded)."""
    _, current = find_guard(module)
    return current.layers if current is not None else ()


def add_layer(modules: list, layer: Layer) -> None:
    """Add ``layer`` to every module, all or none."""
    with LOCK:
        built = [(module, *_with_layer(module, layer)) for module in modules]
        for module, slot, guarded in built:
            module.__dict__[slot] = guarded.forward


def remove_layer(modules, seq: int) -> None:
    """Remove the layer ``seq`` wherever it is; restore a module exactly when none is left."""
    with LOCK:
        for module in modules:
            slot, current = find_guard(module)
            if current is None:
                _stranded(module, seq)
                continue
            remaining = tuple(layer for layer in current.layers if layer.seq != seq)
            if remaining == current.layers:
                continue
            if remaining:
                module.__dict__[slot] = GuardedForward(module, current.previous, remaining).forward
            elif current.previous:
                module.__dict__[slot] = current.previous[0]
            elif slot == "forward":
                del module.__dict__[slot]
            else:
                # Guarded first, hooked later: the hook adopted our guard as its _old_forward and
                # still calls it, so it must get the plain forward the guard wrapped.
                module.__dict__[slot] = current.call


def _with_layer(module, layer: Layer) -> tuple:
    slot, current = find_guard(module)
    if current is not None:
        # Also right after a shallow copy, whose guard still points at the original module:
        # rebuilding binds the layers to this module.
        return slot, GuardedForward(module, current.previous, current.layers + (layer,))
    slot = _new_slot(module)
    previous = (module.__dict__[slot],) if slot in module.__dict__ else ()
    return slot, GuardedForward(module, previous, (layer,))


def _stranded(module, seq: int) -> None:
    # Someone replaced forward while we were installed (accelerate's add_hook_to_module keeps our
    # guard as its _old_forward). We cannot restore under their wrapper; say so rather than
    # silently leave rules active.
    LOGGER.warning(
        "%s.forward was replaced while guarded (layer %d), so kwarg_guard could not remove its "
        "guard from inside the new wrapper; remove that wrapper first, then the guard",
        type(module).__name__, seq,
    )



def _class_guard(cls: type):
    state = state_of(cls.__dict__.get("forward"))
    return state if state is not None and getattr(state, "owner", None) is cls else None


def guard_class(cls: type, rules: Rules) -> None:
    """Replace ``cls.forward`` by a guard (a no-op when the same rules already guard it)."""
    with LOCK:
        current = _class_guard(cls)
        if current is not None and current.own_rules == rules:
            return
        replaced = (cls.__dict__["forward"],) if "forward" in cls.__dict__ else ()
        cls.forward = guard_function(cls.forward, rules, owner=cls, replaced=replaced)


def unguard_class(cls: type) -> None:
    """Undo the most recent ``kwarg_guard(cls, ...)``."""
    from .errors import NotGuardedError

    with LOCK:
        current = _class_guard(cls)
        if current is None:
            raise NotGuardedError(f"{cls.__qualname__}.forward is not guarded by kwarg_guard(cls); nothing to undo")
        if current.replaced:
            cls.forward = current.replaced[0]
        else:
            del cls.forward
