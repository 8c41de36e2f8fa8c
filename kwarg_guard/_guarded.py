"""The guarded callables: a forward on one module instance, and a guarded function or class forward.

Both run the same per-call code, ``_guarded_call``, against a ``GuardState``, and differ only in
how they are stored:

* On a module instance, ``__dict__["forward"]`` holds ``GuardedForward.forward``: a bound method
  of the ``GuardedForward`` state object. A bound method is as cheap to call as a function, and
  it copies correctly: ``copy.deepcopy`` rebinds it to a deep copy of its state, and ``pickle``
  stores it as ``getattr(state, "forward")``, where the state rebuilds itself around the *copied*
  module. A closure would keep calling the original module's parameters.
* A function or a class's ``forward`` is replaced by a plain function that binds like the one it
  replaced and pickles by reference.

The original signature stays visible either way (``__signature__`` / ``__wrapped__``), because
Trainer's column selection and ``generate()``'s keyword check read it.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import types
from dataclasses import dataclass

from ._ledger import Ledger, ledger_for
from ._rewrite import Rewrite
from ._rules import Rules, merge_rules
from ._signature import accepted_keywords

__all__ = ["Layer", "GuardState", "GuardedForward", "guard_function", "state_of", "rules_below"]

_SEQUENCE = itertools.count(1)


@dataclass(frozen=True)
class Layer:
    """One ``patched`` block or one ``guard`` call on a module; ``seq`` orders and identifies it."""

    rules: Rules
    kind: str  # "patched" or "guard"
    seq: int

    @classmethod
    def new(cls, rules: Rules, kind: str) -> "Layer":
        return cls(rules, kind, next(_SEQUENCE))


def _guarded_call(state, *args, **kwargs):
    # The hot path, kept to what a hand-written filter does: a subset test, and for a keyword set
    # seen before, deletions from this call's own kwargs dict (a fresh dict nobody else holds).
    # Anything else (first sight, remaps, warnings) goes to the Rewrite.
    if kwargs.keys() <= state.passthrough:
        return state.call(*args, **kwargs)
    plan = state.recent  # a call site repeats its keyword set: comparing keys beats hashing them
    if plan is None or kwargs.keys() != plan.names:
        plan = state.plans.get(tuple(kwargs))
        if plan is None:
            return state.call(*args, **state.rewrite(kwargs))
        state.recent = plan
    next(plan.calls)
    for name in plan.drop:
        del kwargs[name]
    return state.call(*args, **kwargs)


def state_of(fn) -> "GuardState | None":
    """The guard state behind a guarded forward or function, if ``fn`` is one."""
    if isinstance(fn, types.MethodType) and isinstance(fn.__self__, GuardState):
        return fn.__self__
    state = getattr(fn, "_kwarg_guard_state", None)
    return state if isinstance(state, GuardState) else None


def rules_below(fn) -> Rules | None:
    """Merged rules of a guard already inside ``fn``'s ``__wrapped__`` chain, if any.

    A new guard merges them so an outer drop never removes a keyword an inner remap needs.
    """
    for _ in range(64):
        state = state_of(fn)
        if state is not None:
            return state.rules
        fn = getattr(fn, "__wrapped__", None)
        if fn is None:
            return None
    return None


class GuardState:
    """What one guarded callable needs per call, compiled from the rules it applies."""

    __slots__ = ("passthrough", "plans", "recent", "rewrite", "call", "rules", "ledger")

    def _compile(self, call, own_rules: list, ledger: Ledger) -> None:
        below = rules_below(call)
        rules = merge_rules(([below] if below is not None else []) + own_rules)
        rewrite = Rewrite(accepted_keywords(call), rules, ledger)
        self.call = call
        self.rules = rules
        self.ledger = ledger
        self.rewrite = rewrite
        self.passthrough = rewrite.passthrough
        self.plans = rewrite.simple_plans
        self.recent = None

    @property
    def forward_name(self) -> str:
        return self.rewrite.accepted.forward


class GuardedForward(GuardState):
    """The guard state of one module instance; ``.forward`` is what the module's ``__dict__`` holds.

    Args:
        module: the module whose ``forward`` this replaces.
        previous: ``()`` when the module had nothing of its own in the slot (the usual case), else
            ``(value,)`` with what was there (an accelerate hook's forward, say), restored exactly
            when the last layer goes.
        layers: the ``Layer`` s in the order they were added.
    """

    __slots__ = ("module", "previous", "layers", "_bound")

    def __init__(self, module, previous: tuple, layers: tuple):
        self.module = module
        self.previous = previous
        self.layers = layers
        call = previous[0] if previous else type(module).forward.__get__(module, type(module))
        self._compile(call, [layer.rules for layer in layers], ledger_for(module))
        self._bound = types.MethodType(_named_forward(call, type(module)), self)

    @property
    def forward(self):
        """The bound method to store as the module's forward (pickle finds it by this name)."""
        return self._bound

    def __reduce__(self):
        return (GuardedForward, (self.module, self.previous, self.layers))

    def __repr__(self):
        return f"<kwarg_guard GuardedForward of {self.forward_name} with {len(self.layers)} layer(s)>"


def _named_forward(call, cls: type):
    """A copy of the per-call code that looks like ``call`` to introspection.

    Bound to a ``GuardedForward``, its first parameter is the state, so its ``__signature__`` is
    the original's with a placeholder in front, which binding removes again.
    """
    function = types.FunctionType(_guarded_call.__code__, _guarded_call.__globals__, "forward")
    original = inspect.signature(call)
    placeholder = inspect.Parameter("_kwarg_guard_state", inspect.Parameter.POSITIONAL_ONLY)
    function.__signature__ = original.replace(parameters=[placeholder, *original.parameters.values()])
    function.__qualname__ = getattr(call, "__qualname__", "forward")
    function.__doc__ = getattr(call, "__doc__", None)
    function.__module__ = getattr(call, "__module__", None)
    # The class's forward, not the bound one: a reference to this module would be wrong in copies.
    function.__wrapped__ = cls.forward
    return function


class _FunctionGuard(GuardState):
    __slots__ = ("own_rules", "owner", "replaced")


def guard_function(fn, rules: Rules, owner: type | None = None, replaced: tuple = ()):
    """A guarded replacement for ``fn`` that binds and pickles like ``fn`` itself.

    Args:
        fn: the function to guard (its signature decides what is accepted).
        rules: this guard's own rules.
        owner: for a class-level guard, the class whose ``forward`` this replaces.
        replaced: ``()`` when the owner did not define ``forward`` itself (it inherited it), else
            ``(original,)``; ``unguard`` restores exactly that.
    """
    state = _FunctionGuard()
    state.own_rules, state.owner, state.replaced = rules, owner, replaced
    state._compile(fn, [rules], Ledger())

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        return _guarded_call(state, *args, **kwargs)

    guarded._kwarg_guard_state = state
    return guarded
