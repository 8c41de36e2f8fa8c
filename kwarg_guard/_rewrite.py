"""The rewrite of one call's keywords: the single mechanism behind every door.

A ``Rewrite`` is compiled once per (forward, rules). Calls whose keywords all plainly pass never
reach it: the guarded callable asks ``passes_as_is(kwargs)`` and calls straight through. A keyword set
seen before is applied by the guarded callable from its cached plan, at the cost of a
hand-written filter, whatever the mode. Everything else lands in ``Rewrite.__call__``: first
sight (``decide``, the stack walk, logging, error text), a warning that is due, and keyword sets
that carry a remap source, which are decided again on every call because their outcome depends
on the values.
"""

from __future__ import annotations

import itertools
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

import torch

from ._decision import Action, Decision, apply, decide
from ._keyword_log import LOGGER, KeywordLog, value_kind
from ._origin import Origin, find_origin, user_stacklevel
from ._rules import Rules
from ._signature import Accepted
from .errors import UnexpectedKeywordError, UnexpectedKeywordWarning

__all__ = ["Plan", "Rewrite"]

# Decisions about a keyword a forward's **kwargs receives but does not use: refused in raise mode,
# reported (warned about if it carries a value) otherwise.
_JUDGED_OUTSIDE = frozenset({Action.REFUSE, Action.IGNORED})
# The per-call code of every guarded forward (see _guarded): a frame running it is a guarded call.
_GUARDED_CALL = ("_guarded_call", "_guarded.py")


def _enclosing_guards(inner: Rewrite) -> list[Rewrite]:
    """The rewrites of the guarded calls this one is running inside, innermost first."""
    found = []
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_name == _GUARDED_CALL[0] and code.co_filename.endswith(_GUARDED_CALL[1]):
            in_force = getattr(frame.f_locals.get("owner"), "_kwarg_guard_active", None)
            rewrite = getattr(in_force, "rewrite", None)
            if isinstance(rewrite, Rewrite) and rewrite is not inner:
                found.append(rewrite)
        frame = frame.f_back
    return found


# Enough for every call site of a real model; beyond it plans are rebuilt rather than cached
# so that a caller inventing keyword names cannot grow memory without bound.
_MAX_PLANS = 256


class Plan:
    """What to do with one exact keyword set.

    A plan that is not ``per_call`` is *simple*: the guarded callable applies it itself,
    deleting ``drop`` from the call's own kwargs dict, and hands a call to the ``Rewrite`` only
    when a watched stray carries a value (a warning is due).
    """

    __slots__ = ("calls", "drop", "names", "origins", "per_call", "watch")

    def __init__(self, names: frozenset[str], drop: tuple[str, ...], per_call: bool, watch: tuple[str, ...]):
        self.names = names  # the keyword set this plan is for
        self.drop = drop  # names removed
        self.per_call = per_call  # carries a remap source: decided again on every call
        self.watch = watch  # strays to warn about once they carry a value ("warn" mode)
        self.calls = itertools.count()
        self.origins: dict[str, Origin] = {}  # found on first sight, reused by a later warning

    @property
    def simple(self) -> bool:
        return not self.per_call


class Rewrite:
    """Rewrites the keywords of calls to one forward under one merged ``Rules``."""

    def __init__(self, accepted: Accepted, rules: Rules, keyword_log: KeywordLog):
        rules = rules.for_forward(accepted)
        rules.check_against(accepted)
        self.accepted = accepted
        self.rules = rules
        self.keyword_log = keyword_log
        self._remap = rules.remap_map
        intercepted = frozenset(self._remap) | rules.drop
        # The hot path's one test. A plain **kwargs forward takes every name but the intercepted
        # ones and the other names of its parameters; any other forward takes exactly the names it
        # knows, minus the intercepted ones.
        self.passes_as_is: Callable[[dict[str, Any]], bool] = (
            (intercepted | accepted.other_names).isdisjoint
            if accepted.takes_anything
            else (accepted.known - intercepted - accepted.ignored).issuperset
        )
        self._plans: dict[tuple[str, ...], Plan] = {}
        # Read by the guarded callable itself: keyword tuple -> simple Plan.
        self.simple_plans: dict[tuple[str, ...], Plan] = {}
        self._counters: dict[tuple[str, Action, str | None], itertools.count[int]] = {}

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Rewrite a call: ``kwargs`` (the call's own dict) in place, ``args`` when a remap fills a
        positional slot. Raises ``UnexpectedKeywordError`` for a refused keyword."""
        if torch.compiler.is_compiling():
            # From the rules alone: nothing counted, logged or warned inside a compiled graph.
            decisions = self.decide(args, kwargs)
            self._refuse(decisions, origin=None)
            return apply(self.accepted, decisions, args, kwargs)
        key = tuple(kwargs)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(args, kwargs)
        if plan.per_call:
            decisions = self.decide(args, kwargs)
            self._record(decisions, kwargs)
            return apply(self.accepted, decisions, args, kwargs)
        next(plan.calls)
        if plan.watch:
            self._warn_on_values(plan, kwargs)
        for name in plan.drop:
            del kwargs[name]
        return args, kwargs

    def decide(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Decision]:
        positional = dict(zip(self.accepted.positional, args, strict=False)) if self._remap else None
        return decide(self.accepted, self.rules, kwargs, positional)

    def _plan(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Plan:
        decisions = self._passed_on_inside(self.decide(args, kwargs))
        self._refuse(decisions, origin=find_origin)
        per_call = any(name in self._remap for name in kwargs)
        plan = Plan(
            frozenset(kwargs),
            tuple(name for name, d in decisions.items() if d.action is Action.DROP),
            per_call,
            tuple(
                name
                for name, d in decisions.items()
                if d.warns and not self.keyword_log.has_warned(self.accepted.forward, name)
            ),
        )
        if not per_call:
            for name, decision in decisions.items():
                if decision.action is not Action.PASS:
                    plan.origins[name] = self._note(name, decision, kwargs[name], plan.calls)
        if len(self._plans) < _MAX_PLANS:
            self._plans[tuple(kwargs)] = plan
            if plan.simple:
                self.simple_plans[tuple(kwargs)] = plan
        return plan

    def _passed_on_inside(self, decisions: dict[str, Decision]) -> dict[str, Decision]:
        """Leave alone what a guarded forward around this one took and hands on.

        transformers' heads pass their ``**kwargs`` on to the model inside (a causal LM takes
        ``shift_labels`` for its loss and hands it to its base model, whose ``**kwargs`` ignore
        it). The keyword entered the model where the outer guard judged it; refusing it or
        warning about it again, inside, would be about the library's plumbing, not the caller's
        call. Asked on first sight of a keyword set only.
        """
        strays = [name for name, d in decisions.items() if d.action in _JUDGED_OUTSIDE and self.accepted.var_keyword]
        if not strays:
            return decisions
        outer = _enclosing_guards(self)
        for name in strays:
            if any(rewrite.accepted.accepts(name) for rewrite in outer):
                decisions[name] = Decision(Action.IGNORED)
        return decisions

    def _record(self, decisions: dict[str, Decision], kwargs: dict[str, Any]) -> None:
        for name, decision in decisions.items():
            if decision.action is Action.PASS:
                continue
            key = (name, decision.action, decision.target)
            counter = self._counters.get(key)
            origin = None
            if counter is None:
                counter = self._counters.setdefault(key, itertools.count())
                origin = self._note(name, decision, kwargs[name], counter)
            next(counter)
            if decision.warns and kwargs[name] is not None:
                self._warn(name, kwargs[name], origin)

    def _note(self, name: str, decision: Decision, value: Any, counter: itertools.count[int]) -> Origin:
        """Record the keyword (and log it, once per origin); returns the origin found."""
        origin = find_origin(name)
        action, target = decision.action, decision.target
        forward = self.accepted.forward
        if not self.keyword_log.note(forward, name, action, target, value, origin, counter):
            return origin
        if action is Action.TARGET_GIVEN:
            LOGGER.warning(
                "%s: %r and %r were both given; kept the explicit %r and dropped %r (passed by %s)",
                forward,
                name,
                target,
                target,
                name,
                origin,
            )
        elif action is Action.IGNORED:
            LOGGER.info(
                "%s: %r (%s) will be ignored by %s(): its **kwargs does not declare it (passed by %s)",
                forward,
                name,
                value_kind(value),
                forward,
                origin,
            )
        else:
            what = f"{action} -> {target!r}" if action is Action.REMAP else str(action)
            LOGGER.info("%s: %r (%s) %s, passed by %s", forward, name, value_kind(value), what, origin)
        return origin

    def _warn_on_values(self, plan: Plan, kwargs: dict[str, Any]) -> None:
        fate = Action.IGNORED if self.accepted.var_keyword else Action.DROP
        for name in plan.watch:
            if kwargs[name] is not None:
                origin = plan.origins[name]
                # The record was made when this keyword set was first seen, perhaps with None.
                self.keyword_log.note(self.accepted.forward, name, fate, None, kwargs[name], origin, plan.calls)
                self._warn(name, kwargs[name], origin)
        plan.watch = tuple(n for n in plan.watch if not self.keyword_log.has_warned(self.accepted.forward, n))

    def _warn(self, name: str, value: Any, origin: Origin | None = None) -> None:
        forward = self.accepted.forward
        if not self.keyword_log.first_warning(forward, name):
            return
        fate = "will be ignored by" if self.accepted.var_keyword else "was dropped before"
        warnings.warn(
            f"{name!r} carried a {value_kind(value)} value and {fate} {forward}(); passed by "
            f"{origin or find_origin(name)}. If the model should receive it, remap it to a parameter it "
            f"takes{self.accepted.hint(name)}; to drop it silently, add it to drop.",
            UnexpectedKeywordWarning,
            stacklevel=user_stacklevel(),
        )

    def _refuse(self, decisions: dict[str, Decision], origin: Callable[[str], Origin] | None) -> None:
        for name, decision in decisions.items():
            if decision.action is Action.REFUSE:
                raise self.unexpected(name, origin(name) if origin is not None else None)

    def unexpected(self, name: str, origin: Origin | None) -> UnexpectedKeywordError:
        hint = self.accepted.hint(name)
        where = f"; it was passed by {origin}" if origin is not None else ""
        fate = " (its **kwargs would ignore it)" if self.accepted.var_keyword else ""
        suggested = self.accepted.suggestions(name)
        fix = f"remap={{{name!r}: {suggested[0]!r}}}" if suggested else f"drop=[{name!r}]"
        if suggested and self.accepted.is_rename(name, suggested[0]):
            fix = f"renames=True (or {fix})"
        return UnexpectedKeywordError(
            f"{self.accepted.forward}() got an unexpected keyword argument {name!r}{fate}{hint}{where}. "
            f'To let it through, guard with {fix} or on_unknown="drop"'
        )
