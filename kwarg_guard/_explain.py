"""``explain(model, **inputs)``: what each forward would receive, from whom, and what the guard
would do, found by a dry call that computes nothing.

Every module's forward is replaced for the duration of one call by a probe. A probe records the
keywords that arrive; then, if its forward takes a plain ``**kwargs`` (a wrapper: PEFT models and
tuners, DDP, DataParallel), the call goes on inward with the keywords that forward would pass;
at the first forward that names its parameters (the model itself) the dry run stops, before that
forward runs. Calls from other threads meanwhile go through the probes untouched, to the forward
they would have reached. Counters, logs and warnings of existing guards are not touched, and
every module's ``__dict__`` is restored exactly afterwards.
"""

from __future__ import annotations

import contextlib
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ._decision import Action, Decision, apply, decide
from ._guarded import class_forward, rules_below
from ._holders import COMPILED
from ._keyword_log import value_kind
from ._origin import Origin, find_origin
from ._patching import LOCK, find_guard
from ._rules import Rules
from ._signature import Accepted, accepted_keywords
from ._table import TERMINAL_WIDTH, render_table
from ._targets import check_module, unwrap_containers

__all__ = ["ExplainedKeyword", "Explanation", "explain"]


@dataclass(frozen=True)
class ExplainedKeyword:
    """One keyword arriving at one forward during the dry run.

    >>> import torch
    >>> from kwarg_guard import explain
    >>> class Net(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x
    >>> row = explain(Net(), 1, labels=None).find("Net.forward", "labels")
    >>> row.unguarded, row.guarded, row.has_guard
    ('raises TypeError', 'dropped', False)
    """

    module: str  # path inside the model ("" for the model itself)
    forward: str
    keyword: str
    value: str
    origin: Origin
    unguarded: str  # what happens with no guard
    guarded: str  # what the guard there does (or a default guard would do, when there is none)
    has_guard: bool


class Explanation(tuple[ExplainedKeyword, ...]):
    """Rows of ``ExplainedKeyword``; ``stopped_at`` names the forward the dry run stopped before,
    and ``fixes`` holds one pasteable ``guard(...)`` call per forward that needs one.

    ``str()`` renders one block per forward reached: keywords that simply pass are listed on one
    line, every other keyword gets a row with its value, who passed it, and what happens to it
    unguarded and with the guard; the fixes come last.

    >>> import torch
    >>> from kwarg_guard import explain
    >>> class Net(torch.nn.Module):
    ...     def forward(self, x, label_ids=None):
    ...         return x
    >>> explanation = explain(Net(), 1, labels=2)
    >>> explanation.stopped_at
    'Net.forward'
    >>> explanation.fixes
    ("guard(model, target='Net', remap={'labels': 'label_ids'})",)
    """

    stopped_at: str | None = None
    fixes: tuple[str, ...] = ()

    def __str__(self) -> str:
        if not self:
            return "explain: the dry run reached no forward"
        blocks: dict[tuple[str, str], list[ExplainedKeyword]] = {}
        for row in self:
            blocks.setdefault((row.module, row.forward), []).append(row)
        out = []
        order = list(blocks)
        for module, forward in order:
            rows = blocks[(module, forward)]
            last = (module, forward) == order[-1]
            stopped = " (the dry run stopped before it ran)" if last and forward == self.stopped_at else ""
            out.append(f"{forward} [{module or 'the model'}]{stopped}")
            notable = [r for r in rows if not (r.unguarded == "passes" and r.guarded == "passes")]
            if notable:
                header = ("keyword", "value", "unguarded", "with the guard")
                table = [
                    (
                        r.keyword,
                        r.value,
                        r.unguarded,
                        r.guarded if r.has_guard else f"{r.guarded} (with a default guard)",
                    )
                    for r in notable
                ]
                origins = [f"passed by {r.origin}" for r in notable]
                out.extend(render_table(header, table, indent="  ", details=origins))
            passing = [r.keyword for r in rows if r.unguarded == "passes" and r.guarded == "passes"]
            if passing:
                out.extend(
                    textwrap.wrap(
                        f"{_UNCHANGED}: {', '.join(passing)}",
                        TERMINAL_WIDTH,
                        initial_indent="  ",
                        subsequent_indent="    ",
                    )
                )
        if self.fixes:
            out.append("fix:" if len(self.fixes) == 1 else "fixes:")
            for fix in self.fixes:
                out.extend(_fit_call(fix, indent="  "))
        else:
            out.append(_NOTHING_TO_FIX)
        return "\n".join(out)

    def at(self, forward: str) -> list[ExplainedKeyword]:
        """The rows for one forward (by qualified name)."""
        return [row for row in self if row.forward == forward]

    def find(self, forward: str, keyword: str) -> ExplainedKeyword | None:
        return next((row for row in self.at(forward) if row.keyword == keyword), None)


# The line under a forward for keywords it takes as they are; phrased so that it cannot be read as
# the wrapper passing them on, or as a verdict on the whole call.
_UNCHANGED = "unchanged with or without a guard"
_NOTHING_TO_FIX = "nothing to fix: every forward reached takes every keyword it was given"


def _fit_call(call: str, indent: str, width: int = TERMINAL_WIDTH) -> list[str]:
    """``call`` (a ``name(arg, key=value, ...)`` expression) on one line when it fits, else one
    argument a line, long ones wrapped at their spaces; each form stays valid Python to paste."""
    if len(indent) + len(call) <= width:
        return [indent + call]
    name, _, inner = call[:-1].partition("(")
    lines = [f"{indent}{name}("]
    argument_indent = indent + "    "
    for argument in _top_level_arguments(inner):
        lines.extend(
            textwrap.wrap(
                argument + ",",
                width,
                initial_indent=argument_indent,
                subsequent_indent=argument_indent + "    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    lines.append(f"{indent})")
    return lines


def _top_level_arguments(inner: str) -> list[str]:
    """Split ``a, b={'x': 1, 'y': 2}, c=[3, 4]`` at the commas outside brackets and quotes."""
    arguments, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(inner):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            arguments.append(inner[start:index].strip())
            start = index + 1
    arguments.append(inner[start:].strip())
    return arguments


class _Stop(Exception):
    """Raised by the probe at the first forward that would compute."""


def explain(model: torch.nn.Module, *args: Any, **example_inputs: Any) -> Explanation:
    """Dry-run ``model(*args, **example_inputs)`` and say, for each forward reached, which
    keywords arrived, who passed them, and what happens to them with and without the guard.

    >>> import torch
    >>> class Net(torch.nn.Module):
    ...     def forward(self, x, label_ids=None):
    ...         raise AssertionError("explain never runs this")
    >>> rows = explain(Net(), torch.ones(1), labels=torch.ones(1))
    >>> rows[0].keyword, rows[0].unguarded, rows[0].guarded
    ('labels', 'raises TypeError', 'dropped with a warning')
    >>> rows.fixes
    ("guard(model, target='Net', remap={'labels': 'label_ids'})",)

    Raises:
        TypeError: ``model`` is not a module. Whatever a wrapper's forward raises for another
            reason is raised unchanged.
    """
    check_module(model, "explain")
    root = unwrap_containers(model, COMPILED)
    paths = {module: name for name, module in root.named_modules()}
    rows: list[ExplainedKeyword] = []
    stopped: list[str] = []
    fixes: list[str] = []
    saved = {}
    explaining = threading.get_ident()
    with LOCK:
        try:
            for module in paths:
                saved[module] = module.__dict__.get("forward", _ABSENT)
                module.__dict__["forward"] = _probe(module, paths[module], rows, stopped, fixes, explaining)
            with contextlib.suppress(_Stop):
                root(*args, **example_inputs)
        finally:
            for module, previous in saved.items():
                if previous is _ABSENT:
                    module.__dict__.pop("forward", None)
                else:
                    module.__dict__["forward"] = previous
    explanation = Explanation(rows)
    explanation.stopped_at = stopped[0] if stopped else None
    explanation.fixes = tuple(dict.fromkeys(fixes))
    return explanation


_ABSENT = object()


def _probe(
    module: torch.nn.Module,
    path: str,
    rows: list[ExplainedKeyword],
    stopped: list[str],
    fixes: list[str],
    explaining: int,
) -> Callable[..., Any]:
    current = module.__dict__.get("forward") or class_forward(module)

    def probe(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() != explaining:
            return current(*args, **kwargs)  # another thread's call: not part of this dry run
        # Read only for forwards the call reaches, so an odd module elsewhere in the model cannot
        # break explain().
        state = find_guard(module)
        call = state.active.call if state is not None else current
        rules = state.rules if state is not None and state.rules is not None else rules_below(call)
        accepted = accepted_keywords(call)
        positional = dict(zip(accepted.positional, args, strict=False))
        guarded = decide(accepted, rules or Rules(), kwargs, positional)
        plain = decide(accepted, Rules(), kwargs, positional, guarded=False)
        for name, value in kwargs.items():
            rows.append(
                ExplainedKeyword(
                    path,
                    accepted.forward,
                    name,
                    value_kind(value),
                    find_origin(name),
                    _describe(plain[name], value, guarded=False),
                    _describe(guarded[name], value),
                    rules is not None,
                )
            )
        fix = _fix(module, accepted, plain, kwargs)
        if fix:
            fixes.append(fix)
        if accepted.takes_anything:
            # A wrapper: go on inward with what it would actually be given.
            inner_args, inner_kwargs = apply(accepted, guarded, args, dict(kwargs))
            return call(*inner_args, **inner_kwargs)
        stopped.append(accepted.forward)
        raise _Stop

    return probe


def _describe(decision: Decision, value: Any, guarded: bool = True) -> str:
    action = decision.action
    warns = " with a warning" if decision.warns and value is not None else ""
    if action is Action.REMAP:
        return f"remapped -> {decision.target!r}"
    if action is Action.TARGET_GIVEN:
        return f"{action}: keeps {decision.target!r}"
    if action is Action.IGNORED:
        # With no guard nothing tells the user; with one, the report does (and "warn" warns).
        return f"passes; ignored by forward{warns}" if guarded else "silently ignored by forward"
    if action in (Action.REFUSE, Action.TYPE_ERROR):
        return "raises TypeError"
    return f"{action}{warns}"


def _fix(module: torch.nn.Module, accepted: Accepted, plain: dict[str, Decision], kwargs: dict[str, Any]) -> str:
    """A ``guard(...)`` call that makes this forward's call clean: close names remapped, the rest dropped."""
    strays = [name for name, d in plain.items() if d.action in (Action.TYPE_ERROR, Action.IGNORED)]
    if not strays:
        return ""
    free = sorted(name for name in accepted.known if kwargs.get(name) is None)
    remap: dict[str, str] = {}
    drop: list[str] = []
    for name in strays:
        # The same suggestion as the guard's own error and warning (known renames first), for a
        # keyword that carries something: a None moves nothing, and a remap of it would send a
        # later value to a look-alike input (decoder_attention_mask to encoder_attention_mask).
        match = [suggested for suggested in accepted.suggestions(name) if suggested in free]
        if match and match[0] not in remap.values() and kwargs[name] is not None:
            remap[name] = match[0]
        else:
            drop.append(name)
    options = [f"target={type(module).__name__!r}"]
    if remap:
        options.append(f"remap={remap!r}")
    if drop:
        options.append(f"drop={drop!r}")
    return f"guard(model, {', '.join(options)})"
