"""Adding and removing guard layers on module instances, and guards on classes.

Every change builds what it publishes completely (which validates it) before publishing it,
under one lock: a concurrent call sees the old rules or the new ones, never a half-installed
patch, and an error leaves every module and class as it was.

Class guards and instance guards compose: an instance guard calls its class's forward as the
class provides it *now*, and merges a class guard's rules into its own. When a class guard is
added or removed, every guard built on that class (instance guards of its instances, class
guards of its subclasses) is rebuilt at once.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Iterable
from typing import Any

from ._guarded import (
    ACTIVE_ATTRIBUTE,
    ACTIVE_BLOCKS,
    LIVE_STATES,
    FunctionGuard,
    GuardedForward,
    GuardState,
    InForce,
    Layer,
    function_of,
    guard_function,
    inherited_forward,
    module_entries,
    state_of,
)
from ._rules import Rules
from .errors import NotGuardedError

__all__ = [
    "LOCK",
    "add_layer",
    "end_block",
    "find_guard",
    "guard_class",
    "layers_of",
    "remove_layer",
    "unguard_class",
]

LOCK = threading.RLock()

# Where a guarded forward can sit in a module's __dict__. Normally "forward". On a module carrying
# an accelerate hook (_hf_hook + _old_forward), the hook's forward calls module._old_forward: the
# guard goes there, so the hook keeps running first; and a hook added after the guard adopts the
# guard as its _old_forward.
_FORWARD_ATTRIBUTES = ("forward", "_old_forward")


def find_guard(module: Any) -> GuardedForward | None:
    """The guard state installed on ``module``, or ``None``."""
    state = _held_state(module)
    return state if state is not None and state.module is module else None


def _held_state(module: Any) -> GuardedForward | None:
    active = module.__dict__.get(ACTIVE_ATTRIBUTE)
    state = active.state if isinstance(active, InForce) else None
    return state if isinstance(state, GuardedForward) else None


def layers_of(module: Any) -> tuple[Layer, ...]:
    """The guard layers on ``module`` (empty when it is not guarded)."""
    state = find_guard(module)
    return state.layers if state is not None else ()


def add_layer(modules: list[Any], layer: Layer) -> None:
    """Add ``layer`` to every module, all or none."""
    with LOCK:
        if layer.kind == "patched":
            ACTIVE_BLOCKS.add(layer.token)
        try:
            built = [_with_layer(module, layer) for module in modules]
        except BaseException:
            ACTIVE_BLOCKS.discard(layer.token)
            raise
        for module, state, layers, active in built:
            if active is None:
                module.__dict__.update(module_entries(state.active))
                module.__dict__[state.forward_attribute] = state.forward
            else:
                state.publish(layers, active)


def _with_layer(module: Any, layer: Layer) -> tuple[Any, GuardedForward, tuple[Layer, ...], Any]:
    current = find_guard(module)
    if current is not None:
        layers = (*current.layers, layer)
        return module, current, layers, current.activation(layers)
    attributes = module.__dict__
    inherited = _held_state(module)
    if inherited is not None:
        # A shallow copy shares its original's guard, which calls the original module: rebuild
        # the layers around this module.
        state = GuardedForward(module, inherited.forward_attribute, inherited.previous, (*inherited.layers, layer))
        return module, state, state.layers, None
    forward_attribute = "_old_forward" if "_hf_hook" in attributes and "_old_forward" in attributes else "forward"
    previous = (attributes[forward_attribute],) if forward_attribute in attributes else ()
    state = GuardedForward(module, forward_attribute, previous, (layer,))
    return module, state, state.layers, None


def remove_layer(modules: Iterable[Any], token: str) -> None:
    """Remove the layer ``token`` wherever it is; restore a module exactly when none is left."""
    with LOCK:
        for module in modules:
            state = find_guard(module)
            if state is None:
                continue
            remaining = tuple(layer for layer in state.layers if layer.token != token)
            if remaining == state.layers:
                continue
            state.publish(remaining, state.activation(remaining))
            if not remaining:
                _uninstall(module, state)


def end_block(modules: Iterable[Any], layer: Layer) -> None:
    """End a ``patched`` block: its layer leaves the modules it patched and every copy of them."""
    with LOCK:
        ACTIVE_BLOCKS.discard(layer.token)
        carriers = list(modules)
        for state in list(LIVE_STATES):
            if not isinstance(state, GuardedForward):
                continue
            carries_layer = any(existing.token == layer.token for existing in state.layers)
            if carries_layer and not any(state.module is module for module in carriers):
                carriers.append(state.module)
        remove_layer(carriers, layer.token)


def _uninstall(module: Any, state: GuardedForward) -> None:
    attributes = module.__dict__
    for forward_attribute in _FORWARD_ATTRIBUTES:
        held = attributes.get(forward_attribute)
        if isinstance(held, types.MethodType) and held.__self__ is state:
            if forward_attribute == state.forward_attribute and not state.previous:
                del attributes[forward_attribute]
            else:
                attributes[forward_attribute] = state.wrapped_call()
            for name in module_entries(state.active):
                del attributes[name]
            LIVE_STATES.discard(state)
            return
    # The guarded forward sits inside someone else's wrapper that we cannot reach (accelerate's
    # mixed precision keeps it in a closure). The state stays, with no rules: calls through that
    # wrapper go straight to the forward, and guarding the module again reuses it.


def _class_guard(cls: type) -> FunctionGuard | None:
    state = state_of(cls.__dict__.get("forward"))
    return state if isinstance(state, FunctionGuard) and state.owner is cls else None


def guard_class(cls: type, rules: Rules) -> None:
    """Replace ``cls.forward`` by a guard (a no-op when the same rules already guard it)."""
    with LOCK:
        current = _class_guard(cls)
        if current is not None and current.own_rules == rules:
            return
        own = cls.__dict__.get("forward")
        raw = own if own is not None else inherited_forward(cls)
        guarded = guard_function(function_of(raw), rules, owner=cls, replaced=(own,) if own is not None else ())
        # A staticmethod or classmethod forward stays one, so it binds exactly as before.
        _set_class_forward(cls, type(raw)(guarded) if isinstance(raw, (staticmethod, classmethod)) else guarded)


def unguard_class(cls: type) -> None:
    """Undo the most recent ``kwarg_guard(cls, ...)``."""
    with LOCK:
        current = _class_guard(cls)
        if current is None:
            raise NotGuardedError(f"{cls.__qualname__}.forward is not guarded by kwarg_guard(cls); nothing to undo")
        _set_class_forward(cls, current.replaced[0] if current.replaced else None)
        LIVE_STATES.discard(current)


def _set_class_forward(cls: type, value: Any) -> None:
    """Set (or, for ``None``, delete) ``cls.forward`` and rebuild every guard built on it; if
    one cannot be rebuilt (say, a remap conflict), put everything back and raise."""
    before = cls.__dict__.get("forward")
    _assign(cls, value)
    dependents = sorted((s for s in list(LIVE_STATES) if s.depends_on(cls)), key=_depth)
    try:
        for state in dependents:
            state.set_active(state.refreshed())
    except BaseException:
        _assign(cls, before)
        for state in dependents:
            state.set_active(state.refreshed())
        raise


def _assign(cls: type, value: Any) -> None:
    if value is None:
        if "forward" in cls.__dict__:
            delattr(cls, "forward")
    else:
        setattr(cls, "forward", value)  # noqa: B010 (any class, not one that declares forward)


def _depth(state: GuardState) -> int:
    # Class guards of base classes first, instance guards last: each rebuild reads the rules of
    # the guards below it, which must already be rebuilt.
    if isinstance(state, FunctionGuard) and state.owner is not None:
        return len(state.owner.__mro__)
    return 1 << 30
