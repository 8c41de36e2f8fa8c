"""The guarded callables: a forward on one module instance, and a guarded function or class forward.

Both run the same per-call code, ``_guarded_call``, and differ only in how they are stored:

* A guarded module instance has one ``GuardedForward`` state for as long as it is guarded, and
  ``__dict__["forward"]`` holds ``state.forward``: a bound method of the state. A bound method
  is as cheap to call as a function, and it copies correctly: ``copy.deepcopy`` rebinds it to a deep copy of its state, and ``pickle`` stores it
  as ``getattr(state, "forward")``, where the state rebuilds itself around the *copied* module.
* A function or a class's ``forward`` is replaced by a plain function that binds like the one it
  replaced and pickles by reference.

What one call needs is one ``InForce`` object, replaced as a whole when guards are added or
removed. The hot path reads only its fast test and its callable, which the owner also carries
directly (one attribute read each, as cheap as a closure's); a concurrent call runs under the
old rules or the new ones.

Accelerate's mixed precision (and DeepSpeed, and users) take ``model.forward.__func__`` and bind
it to the *module* (``MethodType(autocast(fn), model)``). The per-call code therefore accepts
either owner: the state, or the module, which carries the same three attributes in its
``__dict__``. Its first parameter is positional-only, so no keyword of the model's forward can
collide with it.

The original signature stays visible (``__signature__``), because Trainer's column selection and
``generate()``'s keyword check read it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
import types
import uuid
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ._keyword_log import KeywordLog, keyword_log_for
from ._rewrite import Plan, Rewrite
from ._rules import Rules, merge_rules
from ._signature import accepted_keywords
from ._wrapped import wrapper_chain

__all__ = [
    "ACTIVE_ATTRIBUTE",
    "ACTIVE_BLOCKS",
    "LIVE_STATES",
    "STATE_ATTRIBUTE",
    "FunctionGuard",
    "GuardState",
    "GuardedForward",
    "InForce",
    "Layer",
    "class_forward",
    "function_of",
    "guard_function",
    "inherited_forward",
    "module_entries",
    "rules_below",
    "state_of",
]

# What a state and a guarded module both carry: the current InForce, and its fast test and
# callable, read by the hot path.
ACTIVE_ATTRIBUTE = "_kwarg_guard_active"
_PASSES_AS_IS_ATTRIBUTE = "_kwarg_guard_passes_as_is"
_CALL_ATTRIBUTE = "_kwarg_guard_call"
# The attribute of a guarded function (decorator or class guard) that holds its state.
STATE_ATTRIBUTE = "_kwarg_guard_state"

_SEQUENCE = itertools.count(1)

# Tokens of the patched(...) blocks that are active in this process. A patched layer lives only
# while its block does, on the module it was added to and on any copy of it.
ACTIVE_BLOCKS: set[str] = set()

# Every state that depends on a class's forward, so a class guard added or removed later
# reaches the guards already built on top of it.
LIVE_STATES: weakref.WeakSet[GuardState] = weakref.WeakSet()


@dataclass(frozen=True)
class Layer:
    """One ``patched`` block or one ``guard`` call on a module.

    ``seq`` orders layers in this process; ``token`` identifies the layer on the module and on
    every copy of it, in any process.
    """

    rules: Rules
    kind: Literal["patched", "guard"]
    seq: int
    token: str

    @classmethod
    def new(cls, rules: Rules, kind: Literal["patched", "guard"]) -> Layer:
        return cls(rules, kind, next(_SEQUENCE), uuid.uuid4().hex)

    @property
    def alive(self) -> bool:
        return self.kind == "guard" or self.token in ACTIVE_BLOCKS


# Empty, so disjoint from every keyword set: a state with no rules passes everything through.
_EVERYTHING_FITS = frozenset().isdisjoint


class InForce:
    """What one call reads: the fast test, the callable to call, and the rewrite behind them."""

    __slots__ = ("call", "passes_as_is", "plans", "recent", "rewrite", "state")

    def __init__(self, state: GuardState, call: Callable[..., Any], rewrite: Rewrite | None):
        self.state = state
        self.call = call
        self.rewrite = rewrite
        self.passes_as_is = rewrite.passes_as_is if rewrite is not None else _EVERYTHING_FITS
        self.plans: dict[tuple[str, ...], Plan] = rewrite.simple_plans if rewrite is not None else {}
        self.recent: Plan | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # What a module carries as its callable: unlike a bound method, it pickles (see below).
        return self.call(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        # Copied or pickled with its module: the copied state builds the copy's own.
        return (getattr, (self.state, ACTIVE_ATTRIBUTE))


def module_entries(active: InForce) -> dict[str, Any]:
    """What a guarded module's ``__dict__`` holds for the per-call code, in publishing order."""
    return {ACTIVE_ATTRIBUTE: active, _CALL_ATTRIBUTE: active, _PASSES_AS_IS_ATTRIBUTE: active.passes_as_is}


def _guarded_call(owner: Any, /, *args: Any, **kwargs: Any) -> Any:
    # The hot path, kept to what a hand-written filter does: one set test, and for a keyword set
    # seen before, deletions from this call's own kwargs dict (a fresh dict nobody else holds).
    # Anything else (first sight, remaps, a warning due) goes to the Rewrite.
    passes_as_is = owner._kwarg_guard_passes_as_is  # read as an attribute, not a method: 3.11 specializes only that
    if passes_as_is(kwargs):
        return owner._kwarg_guard_call(*args, **kwargs)
    active = owner._kwarg_guard_active
    plan = active.recent  # a call site repeats its keyword set: comparing keys beats hashing them
    if plan is None or kwargs.keys() != plan.names:
        plan = active.plans.get(tuple(kwargs))
        if plan is None:
            args, kwargs = active.rewrite(args, kwargs)
            return active.call(*args, **kwargs)
        active.recent = plan
    for name in plan.watch:
        # A stray not yet warned about: None carries nothing to warn about and stays on this
        # path; a value goes to the Rewrite, which warns once and stops watching it.
        if kwargs[name] is not None:
            args, kwargs = active.rewrite(args, kwargs)
            return active.call(*args, **kwargs)
    next(plan.calls)
    for name in plan.drop:
        del kwargs[name]
    return active.call(*args, **kwargs)


def state_of(fn: Any) -> GuardState | None:
    """The guard state behind a guarded forward or function, if ``fn`` is one."""
    if isinstance(fn, types.MethodType) and isinstance(fn.__self__, GuardState):
        return fn.__self__
    state = getattr(function_of(fn), STATE_ATTRIBUTE, None)
    return state if isinstance(state, GuardState) else None


def rules_below(fn: Any) -> Rules | None:
    """Merged rules of a guard already inside ``fn``'s ``__wrapped__`` chain, if any.

    A new guard merges them so an outer drop never removes a keyword an inner remap needs.
    """
    for level in wrapper_chain(fn):
        state = state_of(level)
        if state is not None and state.rules is not None:
            return state.rules
    return None


def function_of(raw: Any) -> Any:
    """The function inside a ``staticmethod`` or ``classmethod``; anything else as it is."""
    return raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw


def class_forward(module: Any) -> Callable[..., Any]:
    """``forward`` as the module's class provides it, bound the way the class binds it (a
    ``staticmethod`` forward is not given the module)."""
    cls = type(module)
    raw = inspect.getattr_static(cls, "forward")
    return raw.__get__(module, cls) if hasattr(raw, "__get__") else raw


class GuardState:
    """What a guarded callable needs per call (``active``), and where it records what it did."""

    __slots__ = ("__weakref__", "_kwarg_guard_active", "_kwarg_guard_call", "_kwarg_guard_passes_as_is", "keyword_log")
    _kwarg_guard_active: InForce
    _kwarg_guard_call: Callable[..., Any]
    _kwarg_guard_passes_as_is: Callable[..., bool]
    keyword_log: KeywordLog

    @property
    def active(self) -> InForce:
        return self._kwarg_guard_active

    def set_active(self, active: InForce) -> None:
        # The full InForce first: a call that finds the new fast test finds the new rewrite too.
        self._kwarg_guard_active = active
        self._kwarg_guard_call = active.call
        self._kwarg_guard_passes_as_is = active.passes_as_is

    def _activate(self, call: Callable[..., Any], rules: Rules | None, module: Any = None) -> InForce:
        """The ``InForce`` for ``call`` under ``rules`` (validated; not yet published)."""
        if rules is None:
            return InForce(self, call, None)
        below = rules_below(call)
        merged = merge_rules([below, rules] if below is not None else [rules])
        accepted = accepted_keywords(call)
        if merged.ignored_without and module is not None:
            # Only an instance says whether, say, its text head exists.
            unused = {
                k
                for k, attribute in merged.ignored_without
                if k in accepted.named and getattr(module, attribute, None) is None
            }
            accepted = dataclasses.replace(accepted, ignored=frozenset(unused))
        return InForce(self, call, Rewrite(accepted, merged, self.keyword_log))

    @property
    def rules(self) -> Rules | None:
        """The merged rules in force (``None`` for a state that passes everything)."""
        rewrite = self.active.rewrite
        return rewrite.rules if rewrite is not None else None

    @property
    def forward_name(self) -> str:
        rewrite = self.active.rewrite
        return rewrite.accepted.forward if rewrite is not None else getattr(self.active.call, "__qualname__", "forward")

    def depends_on(self, cls: type) -> bool:
        """True when a guard change on ``cls`` changes what this state calls."""
        raise NotImplementedError

    def refreshed(self) -> InForce:
        """The ``InForce`` rebuilt from what the classes provide now."""
        raise NotImplementedError


class GuardedForward(GuardState):
    """The guard state of one module instance.

    Args:
        module: the module whose ``forward`` this replaces.
        forward_attribute: where in ``module.__dict__`` the guarded forward goes (``"forward"``, or
            ``"_old_forward"`` under an accelerate hook).
        previous: ``()`` when the module had nothing of its own in the forward_attribute (the usual case), else
            ``(value,)`` with what was there, restored exactly when the last layer goes.
        layers: the ``Layer`` s in the order they were added; patched layers whose block is not
            active (a copy restored after its block ended, or in another process) are left out.
    """

    __slots__ = ("forward", "forward_attribute", "layers", "module", "previous")
    forward: Callable[..., Any]
    layers: tuple[Layer, ...]
    module: Any
    previous: tuple[Any, ...]
    forward_attribute: str

    def __init__(self, module: Any, forward_attribute: str, previous: tuple[Any, ...], layers: Iterable[Layer]):
        self.module = module
        self.forward_attribute = forward_attribute
        self.previous = previous
        self.keyword_log = keyword_log_for(module)
        self.layers = tuple(layer for layer in layers if layer.alive)
        GuardState.set_active(self, self.activation(self.layers))
        # The bound method to store as the module's forward; pickle finds it by this name.
        self.forward = types.MethodType(_named_forward(self.wrapped_call()), self)
        LIVE_STATES.add(self)

    def wrapped_call(self) -> Callable[..., Any]:
        """What the guard calls: what the forward_attribute held, or the class's forward bound to the module."""
        return self.previous[0] if self.previous else class_forward(self.module)

    def activation(self, layers: tuple[Layer, ...]) -> InForce:
        """The ``InForce`` for ``layers`` (validated; not yet published)."""
        rules = merge_rules(layer.rules for layer in layers) if layers else None
        return self._activate(self.wrapped_call(), rules, self.module)

    def publish(self, layers: tuple[Layer, ...], active: InForce) -> None:
        self.set_active(active)
        self.layers = layers

    def set_active(self, active: InForce) -> None:
        super().set_active(active)
        held = self.module.__dict__.get(ACTIVE_ATTRIBUTE)
        if isinstance(held, InForce) and held.state is self:
            self.module.__dict__.update(module_entries(active))

    def depends_on(self, cls: type) -> bool:
        return not self.previous and isinstance(self.module, cls)

    def refreshed(self) -> InForce:
        return self.activation(self.layers)

    def __reduce__(self) -> tuple[Any, ...]:
        return (GuardedForward, (self.module, self.forward_attribute, self.previous, self.layers))

    def __repr__(self) -> str:
        return f"<kwarg_guard GuardedForward of {self.forward_name} with {len(self.layers)} layer(s)>"


def _named_forward(call: Callable[..., Any]) -> types.FunctionType:
    """A copy of the per-call code that looks like ``call`` to introspection.

    Bound to its owner, its first parameter is the owner, so its ``__signature__`` is the
    original's with a placeholder in front, which binding removes again. Its ``__wrapped__`` is
    a twin without one: accelerate's ``unwrap_model(..., keep_fp32_wrapper=False)`` follows
    ``__wrapped__`` to its end and binds what it finds to the module, which must still be the
    guard.
    """
    original = inspect.signature(call)
    name = "_kwarg_guard_owner"
    while name in original.parameters:  # a forward may use any name, even this one
        name += "_"
    placeholder = inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY)
    shown = original.replace(parameters=[placeholder, *original.parameters.values()])

    def copy() -> types.FunctionType:
        function = types.FunctionType(_guarded_call.__code__, _guarded_call.__globals__, "forward")
        function.__signature__ = shown  # type: ignore[attr-defined]
        function.__qualname__ = getattr(call, "__qualname__", "forward")
        function.__doc__ = getattr(call, "__doc__", None)
        function.__module__ = getattr(call, "__module__", None) or __name__
        return function

    forward = copy()
    forward.__wrapped__ = copy()  # type: ignore[attr-defined]
    return forward


class FunctionGuard(GuardState):
    """The state of a guarded function, or of a class's guarded ``forward`` (``owner``)."""

    __slots__ = ("own_rules", "owner", "replaced", "wrapped")
    own_rules: Rules
    owner: type | None
    replaced: tuple[Any, ...]
    wrapped: Callable[..., Any]

    def wrapped_call(self) -> Callable[..., Any]:
        """The function the guard calls; for a class that inherits ``forward``, what its bases
        provide now (a base's guard may come and go)."""
        if self.owner is None or self.replaced:
            return self.wrapped
        return function_of(inherited_forward(self.owner))

    def depends_on(self, cls: type) -> bool:
        owner = self.owner
        return owner is not None and owner is not cls and not self.replaced and issubclass(owner, cls)

    def refreshed(self) -> InForce:
        return self._activate(self.wrapped_call(), self.own_rules)


def inherited_forward(owner: type) -> Any:
    """``forward`` as the nearest base of ``owner`` defines it (as found in its ``__dict__``)."""
    for base in owner.__mro__[1:]:
        if "forward" in vars(base):
            return vars(base)["forward"]
    raise TypeError(f"kwarg_guard(cls) guards cls.forward, and {owner.__qualname__} has no forward")


def guard_function(
    fn: Callable[..., Any], rules: Rules, owner: type | None = None, replaced: tuple[Any, ...] = ()
) -> Callable[..., Any]:
    """A guarded replacement for ``fn`` that binds and pickles like ``fn`` itself.

    Args:
        fn: the function to guard (its signature decides what is accepted).
        rules: this guard's own rules.
        owner: for a class-level guard, the class whose ``forward`` this replaces.
        replaced: ``()`` when the owner did not define ``forward`` itself (it inherited it), else
            ``(original,)`` as found in the class ``__dict__``; ``unguard`` restores exactly that.
    """
    state = FunctionGuard()
    state.own_rules, state.owner, state.replaced, state.wrapped = rules, owner, replaced, fn
    state.keyword_log = KeywordLog()
    state.set_active(state.refreshed())

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        return _guarded_call(state, *args, **kwargs)

    setattr(guarded, STATE_ATTRIBUTE, state)
    if owner is not None:
        LIVE_STATES.add(state)
    return guarded
