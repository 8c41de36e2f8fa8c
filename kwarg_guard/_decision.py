"""The one decision: what happens to each keyword of a call at one forward.

Every path asks ``decide``: the guarded call (on first sight of a keyword set, and on every call
that carries a remap source, whose outcome depends on values), the ``torch.compile`` path, and
``explain``. The rule, written once:

1. A remap source whose value is ``None`` is dropped; it carries nothing.
2. A remap source is dropped when its target is already given with a value, by keyword or by
   position, or by a source passed earlier in the same call: an explicit value wins.
3. Otherwise the source's value moves to its target.
4. Names in ``drop`` are removed.
5. Keywords the forward takes and uses pass.
6. A parameter this model ignores (``labels`` with no text head, from ``ignored_without``) passes,
   and is reported as ignored (and warned about once if it carried a value).
7. Anything else is a stray and follows ``on_unknown``: ``"raise"`` refuses it; ``"drop"`` removes
   it; ``"warn"`` removes it and says so once if it carried a value. A forward whose typed
   ``**kwargs`` accepts but does not declare it (transformers 5) receives it anyway: it is
   *ignored by* the forward, which the guard reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple

from ._rules import Rules
from ._signature import Accepted

__all__ = ["REMOVED", "Action", "Decision", "apply", "decide"]


class Action(StrEnum):
    """What happens to one keyword; the value is what ``report()`` shows."""

    PASS = "passes"
    IGNORED = "ignored by forward"
    REMAP = "remapped"
    DROP = "dropped"
    DROP_NONE = "dropped (None)"
    TARGET_GIVEN = "dropped (target given)"
    REFUSE = "refused"
    TYPE_ERROR = "raises TypeError"  # what the forward itself does with it, with no guard


class Decision(NamedTuple):
    action: Action
    target: str | None = None  # REMAP: where the value goes; TARGET_GIVEN: the name that won
    warns: bool = False  # a stray under "warn": say so once when it carries a value


# Actions that take the keyword out of the call.
REMOVED = frozenset({Action.DROP, Action.DROP_NONE, Action.TARGET_GIVEN})


def decide(
    accepted: Accepted,
    rules: Rules,
    kwargs: Mapping[str, Any],
    positional: Mapping[str, Any] | None = None,
    *,
    guarded: bool = True,
) -> dict[str, Decision]:
    """Keyword -> ``Decision`` for one call.

    Args:
        accepted: what the forward takes.
        rules: the guard's merged rules (ignored when ``guarded`` is false).
        kwargs: the call's keywords, in the order they were passed.
        positional: parameter name -> value for the parameters the call filled by position.
        guarded: false asks what the forward does with no guard at all (for ``explain``).
    """
    positional = positional or {}
    remap = rules.remap_map if guarded else {}
    mode = rules.mode
    given = {
        target for target in remap.values() if kwargs.get(target) is not None or positional.get(target) is not None
    }
    decisions = {}
    for name, value in kwargs.items():
        target = remap.get(name)
        if target is not None:
            if value is None:
                decision = Decision(Action.DROP_NONE)
            elif target in given:
                decision = Decision(Action.TARGET_GIVEN, target)
            else:
                given.add(target)
                decision = Decision(Action.REMAP, target)
        elif guarded and name in rules.drop:
            decision = Decision(Action.DROP)
        elif name in accepted.ignored:
            decision = Decision(Action.IGNORED, warns=guarded and mode != "drop")
        elif accepted.accepts(name):
            decision = Decision(Action.PASS)
        elif not guarded:
            decision = Decision(Action.IGNORED if accepted.var_keyword else Action.TYPE_ERROR)
        elif mode == "raise":
            decision = Decision(Action.REFUSE)
        else:
            decision = Decision(Action.IGNORED if accepted.var_keyword else Action.DROP, warns=mode == "warn")
        decisions[name] = decision
    return decisions


def apply(
    accepted: Accepted, decisions: Mapping[str, Decision], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Carry ``decisions`` out on the call's own ``kwargs`` (changed in place) and ``args``.

    A remap target filled by position with ``None`` takes the source's value in that position.
    """
    for name, decision in decisions.items():
        if decision.action is Action.REMAP:
            value = kwargs.pop(name)
            target = decision.target
            assert target is not None  # a REMAP decision always names its target
            index = accepted.positional.index(target) if target in accepted.positional else len(args)
            if index < len(args):
                args = (*args[:index], value, *args[index + 1 :])
            else:
                kwargs[target] = value
        elif decision.action in REMOVED:
            del kwargs[name]
    return args, kwargs
