"""The two guarded callables: a forward on one module instance, and a function or class forward.

Both run the same two lines per call (``_Guarded.__call__``) and differ only in what they wrap
and how they survive copying:

* ``GuardedForward`` is stored in a module's ``__dict__["forward"]``. It pickles and deep-copies
  by rebuilding itself around the *copied* module (a closure would keep calling the original
  module's parameters), and it reports the original signature through ``__wrapped__``.
* ``GuardedFunction`` replaces a function (the decorator) or a class's ``forward``; as a
  descriptor it binds like a plain function.
"""

from __future__ import annotations

import functools
import itertools
import types
from dataclasses import dataclass

from ._ledger import Ledger, ledger_for
from ._rewrite import Rewrite
from ._rules import Rules, merge_rules
from ._signature import accepted_keywords

__all__ = ["Layer", "GuardedForward", "GuardedFunction", "rules_below"]

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


def rules_below(fn) -> Rules | None:
    """Merged rules of a guard already inside ``fn``'s ``__wrapped__`` chain, if any.

    A new guard merges them so an outer drop never removes a keyword an inner remap needs.
    """
    for _ in range(64):
        rules = getattr(fn, "_kwarg_guard_rules", None)
        if isinstance(rules, Rules):
            return rules
        fn = getattr(fn, "__wrapped__", None)
        if fn is None:
            return None
    return None


class _Guarded:
    __slots__ = ("_passthrough", "_plans", "_rewrite", "_call", "_kwarg_guard_rules", "__dict__")

    def _compile(self, call, own_rules: list, ledger: Ledger) -> None:
        below = rules_below(call)
        rules = merge_rules(([below] if below is not None else []) + own_rules)
        rewrite = Rewrite(accepted_keywords(call), rules, ledger)
        self._call = call
        self._rewrite = rewrite
        self._passthrough = rewrite.passthrough
        self._plans = rewrite.simple_plans
        self._kwarg_guard_rules = rules
        # Name, docstring and __wrapped__ of the real forward: inspect.signature, Trainer's column
        # selection and generate()'s keyword check all read the original through them.
        functools.update_wrapper(self, call, updated=())

    def __call__(self, *args, **kwargs):
        # The hot path, kept to what a hand-written filter would do: a subset test, and for a
        # keyword set seen before, deletions from this call's own kwargs dict (a fresh dict that
        # nobody else holds). Anything else goes to the Rewrite.
        if kwargs.keys() <= self._passthrough:
            return self._call(*args, **kwargs)
        plan = self._plans.get(tuple(kwargs))
        if plan is None:
            return self._call(*args, **self._rewrite(kwargs))
        next(plan.calls)
        for name in plan.drop:
            del kwargs[name]
        return self._call(*args, **kwargs)

    @property
    def rules(self) -> Rules:
        """The merged rules this guard applies (its own plus any guard it wraps)."""
        return self._kwarg_guard_rules


class GuardedForward(_Guarded):
    """The guarded ``forward`` of one module instance.

    Args:
        module: the module whose ``forward`` this replaces.
        previous: ``()`` when the module had no ``forward`` in its ``__dict__`` (the usual case),
            else ``(value,)`` with what was there (an accelerate hook's forward, say), restored
            exactly when the last layer goes.
        layers: the ``Layer`` s in the order they were added.
    """

    __slots__ = ("module", "previous", "layers")

    def __init__(self, module, previous: tuple, layers: tuple):
        self.module = module
        self.previous = previous
        self.layers = layers
        call = previous[0] if previous else type(module).forward.__get__(module, type(module))
        self._compile(call, [layer.rules for layer in layers], ledger_for(module))

    def __reduce__(self):
        # pickle and deepcopy rebuild around the copied module and previous forward.
        return (GuardedForward, (self.module, self.previous, self.layers))

    def __repr__(self):
        return f"<kwarg_guard GuardedForward of {self.__qualname__} with {len(self.layers)} layer(s)>"


class GuardedFunction(_Guarded):
    """A guarded function or class ``forward``; binds to instances like a plain function.

    Args:
        fn: the function to guard (its signature decides what is accepted).
        rules: this guard's own rules.
        owner: for a class-level guard, the class whose ``forward`` this replaced.
        replaced: ``()`` when the owner did not define ``forward`` itself (it inherited it),
            else ``(original,)``; ``unguard`` restores exactly that.
    """

    __slots__ = ("own_rules", "owner", "replaced", "ledger")

    def __init__(self, fn, rules: Rules, owner: type | None = None, replaced: tuple = ()):
        self.own_rules = rules
        self.owner = owner
        self.replaced = replaced
        self.ledger = Ledger()
        self._compile(fn, [rules], self.ledger)

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return types.MethodType(self, instance)

    def __reduce__(self):
        # A decorated module-level function pickles by reference, like the function it replaced.
        return self.__qualname__

    def __repr__(self):
        return f"<kwarg_guard GuardedFunction {self.__qualname__}>"
