"""The rewrite of one call's keywords: the single mechanism behind every door.

A ``Rewrite`` is compiled once per (forward, rules). Calls whose keywords are all plainly
accepted never reach it: the guarded callable checks ``kwargs.keys() <= passthrough`` and calls
straight through. Everything else lands in ``Rewrite.__call__``, which caches a plan per
keyword set, so the stack walk, logging and error text are paid only on first sight.
"""

from __future__ import annotations

import itertools
import warnings

import torch

from ._ledger import LOGGER, Ledger, value_kind
from ._origin import find_origin
from ._rules import Rules, close_matches
from ._signature import Accepted
from .errors import UnexpectedKeywordError, UnexpectedKeywordWarning

__all__ = ["Rewrite", "AllExcept"]

# Enough for every call site of a real model; beyond it plans are rebuilt rather than cached
# so that a caller inventing keyword names cannot grow memory without bound.
_MAX_PLANS = 256

DROPPED = "dropped"
DROPPED_NONE = "dropped (None)"
REMAPPED = "remapped"
KEPT_TARGET = "dropped (target given)"
IGNORED = "ignored by forward"


class AllExcept(frozenset):
    """Every name except the ones held: the passthrough set of a plain ``**kwargs`` forward."""

    __slots__ = ()

    def __ge__(self, names):
        return self.isdisjoint(names)

    def __contains__(self, name):
        return not frozenset.__contains__(self, name)


class Plan:
    """What to do with one exact keyword set; values are looked at only for remap sources.

    Plans with nothing value-dependent left (no remap, no pending warning) are *simple*: the
    guarded callable applies them itself, deleting ``drop`` from the call's own kwargs dict.
    """

    __slots__ = ("names", "drop", "remaps", "watch", "calls")

    def __init__(self, names, drop, remaps, watch):
        self.names = names  # the keyword set this plan is for
        self.drop = drop  # names removed
        self.remaps = remaps  # ((source, target), ...) present in this keyword set
        self.watch = watch  # dropped names to warn about once they carry a value ("warn" mode)
        self.calls = itertools.count()

    @property
    def simple(self) -> bool:
        return not self.remaps and not self.watch


class Rewrite:
    """Rewrites keyword dicts for one forward under one merged ``Rules``."""

    def __init__(self, accepted: Accepted, rules: Rules, ledger: Ledger):
        rules.check_against(accepted)
        self.accepted = accepted
        self.rules = rules
        self.ledger = ledger
        self._remap = rules.remap_map
        intercepted = frozenset(self._remap) | rules.drop
        if accepted.takes_anything:
            self.passthrough = AllExcept(intercepted)
        else:
            self.passthrough = accepted.known - intercepted
        self._plans: dict = {}
        # Read by the guarded callable itself: keyword tuple -> simple Plan.
        self.simple_plans: dict = {}
        self._remap_counters: dict = {}
        self._warned: set = set()

    def __call__(self, kwargs: dict) -> dict:
        """Rewrite ``kwargs`` in place (it is the call's own ``**kwargs`` dict) and return it."""
        if torch.compiler.is_compiling():
            return self.preview(kwargs)
        key = tuple(kwargs)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(kwargs)
        next(plan.calls)
        if plan.watch:
            self._warn_on_values(plan, kwargs)
            if plan.simple and len(self.simple_plans) < _MAX_PLANS:
                self.simple_plans[key] = plan
        for name in plan.drop:
            del kwargs[name]
        if plan.remaps:
            self._apply_remaps(plan.remaps, kwargs)
        return kwargs

    def _kind(self, name: str) -> str:
        """What the rules make of one keyword name: remap, drop, pass, ignored or unknown."""
        if name in self._remap:
            return "remap"
        if name in self.rules.drop:
            return "drop"
        if name in self.passthrough:
            return "pass"
        # typed **kwargs (transformers 5): the call cannot fail, but the forward will not use it.
        return "ignored" if self.accepted.var_keyword else "unknown"

    def preview(self, kwargs: dict) -> dict:
        """The rewritten keywords, from the rules alone: nothing counted, logged or warned.

        Used under torch.compile (dynamo traces it without graph breaks) and by explain().
        """
        out = {}
        for name, value in kwargs.items():
            kind = self._kind(name)
            if kind in ("ignored", "unknown") and self.rules.mode == "raise":
                raise self._unexpected(name, kwargs, origin=None)
            if kind in ("pass", "ignored"):
                out[name] = value
        for source, target in self.rules.remap:
            if kwargs.get(source) is not None and out.get(target) is None:
                out[target] = kwargs[source]
        return out

    def decide(self, kwargs: dict) -> dict:
        """Keyword -> what this guard does with it, in words (for explain())."""
        decisions = {}
        for name, value in kwargs.items():
            kind = self._kind(name)
            if kind == "remap":
                target = self._remap[name]
                if value is None:
                    decisions[name] = DROPPED_NONE
                elif kwargs.get(target) is not None:
                    decisions[name] = f"{KEPT_TARGET}: keeps {target!r}"
                else:
                    decisions[name] = f"{REMAPPED} -> {target!r}"
            elif kind == "drop":
                decisions[name] = DROPPED
            elif kind == "pass":
                decisions[name] = "passes"
            elif self.rules.mode == "raise":
                decisions[name] = "raises TypeError"
            elif kind == "ignored":
                decisions[name] = f"passes; {IGNORED}"
            else:
                warns = self.rules.mode == "warn" and value is not None
                decisions[name] = DROPPED + (" with a warning" if warns else "")
        return decisions

    def _plan(self, kwargs: dict) -> Plan:
        remaps, dropped, unknown, ignored = [], [], [], []
        for name in kwargs:
            kind = self._kind(name)
            if kind == "remap":
                remaps.append((name, self._remap[name]))
            elif kind == "drop":
                dropped.append(name)
            elif kind == "ignored":
                ignored.append(name)
            elif kind == "unknown":
                unknown.append(name)
        if self.rules.mode == "raise":
            strays = unknown + ignored
            if strays:
                raise self._unexpected(strays[0], kwargs, find_origin(strays[0]))
        plan = Plan(frozenset(kwargs), tuple(dropped + unknown), tuple(remaps), ())
        for name in dropped + unknown:
            self._note(name, DROPPED, None, kwargs[name], plan.calls)
        for name in ignored:
            self._note(name, IGNORED, None, kwargs[name], plan.calls)
        if self.rules.mode == "warn":
            plan.watch = tuple(name for name in unknown + ignored if name not in self._warned)
        if len(self._plans) < _MAX_PLANS:
            self._plans[tuple(kwargs)] = plan
            if plan.simple:
                self.simple_plans[tuple(kwargs)] = plan
        return plan

    def _apply_remaps(self, remaps, kwargs: dict) -> None:
        for source, target in remaps:
            value = kwargs.pop(source)
            if value is None:
                action = DROPPED_NONE
            elif kwargs.get(target) is not None:
                action = KEPT_TARGET
            else:
                kwargs[target] = value
                action = REMAPPED
            counter = self._remap_counters.get((source, action))
            if counter is None:
                counter = self._remap_counters.setdefault((source, action), itertools.count())
                self._note(source, action, None if action == DROPPED_NONE else target, value, counter)
            next(counter)

    def _note(self, name, action, target, value, counter) -> None:
        origin = find_origin(name)
        if not self.ledger.note(self.accepted.forward, name, action, target, value, origin, counter):
            return
        what = f"{action} -> {target!r}" if target else action
        if action == KEPT_TARGET:
            LOGGER.warning(
                "%s: %r and %r were both given; kept the explicit %r and dropped %r (passed by %s)",
                self.accepted.forward, name, target, target, name, origin,
            )
        elif action == IGNORED:
            LOGGER.info(
                "%s: %r (%s) will be ignored by %s(): its **kwargs does not declare it (passed by %s)",
                self.accepted.forward, name, value_kind(value), self.accepted.forward, origin,
            )
        else:
            LOGGER.info("%s: %r (%s) %s, passed by %s", self.accepted.forward, name, value_kind(value), what, origin)

    def _warn_on_values(self, plan: Plan, kwargs: dict) -> None:
        for name in plan.watch:
            if kwargs[name] is not None and name not in self._warned:
                self._warned.add(name)
                fate = "will be ignored by" if self.accepted.var_keyword else "was dropped before"
                warnings.warn(
                    f"{name!r} carried a {value_kind(kwargs[name])} value and {fate} "
                    f"{self.accepted.forward}(); passed by {find_origin(name)}. "
                    f"If the model should receive it, remap it to a parameter it takes"
                    f"{close_matches(name, self.accepted.known)}; to silence this, add it to drop.",
                    UnexpectedKeywordWarning,
                    stacklevel=2,
                )
        plan.watch = tuple(name for name in plan.watch if name not in self._warned)

    def _unexpected(self, name: str, kwargs: dict, origin) -> UnexpectedKeywordError:
        hint = close_matches(name, self.accepted.known)
        where = f"; it was passed by {origin}" if origin is not None else ""
        fate = " (its **kwargs would ignore it)" if self.accepted.var_keyword else ""
        fix = f"remap={{{name!r}: {hint.split(chr(39))[1]!r}}}" if hint else f"drop=[{name!r}]"
        return UnexpectedKeywordError(
            f"{self.accepted.forward}() got an unexpected keyword argument {name!r}{fate}{hint}{where}. "
            f"To let it through, guard with {fix} or on_unknown=\"drop\""
        )
