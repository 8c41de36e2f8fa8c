"""``explain(model, **inputs)``: what each forward would receive, from whom, and what the guard
would do, found by a dry call that computes nothing.

Every module's forward is replaced for the duration of one call by a probe. A probe records the
keywords that arrive; then, if its forward takes a plain ``**kwargs`` (a wrapper: PEFT models and
tuners, DDP, DataParallel), the call goes on inward with the keywords that forward would pass;
at the first forward that names its parameters (the model itself) the dry run stops, before that
forward runs. Counters, logs and warnings of existing guards are not touched, and every module's
``__dict__`` is restored exactly afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass


from ._guarded import state_of
from ._ledger import value_kind
from ._origin import Origin, find_origin
from ._patching import LOCK, find_guard
from ._rewrite import Rewrite
from ._rules import Rules
from ._signature import accepted_keywords
from ._table import render_table
from ._targets import _unwrap_compiled, check_module

__all__ = ["explain", "Explanation", "ExplainedKeyword"]


@dataclass(frozen=True)
class ExplainedKeyword:
    """One keyword arriving at one forward during the dry run."""

    module: str  # path inside the model ("" for the model itself)
    forward: str
    keyword: str
    value: str
    origin: Origin
    unguarded: str  # what would happen with no guard
    guarded: str  # what the guard there does (or a default guard would do, when there is none)
    has_guard: bool


class Explanation(tuple):
    """Rows of ``ExplainedKeyword``; ``stopped_at`` names the forward the dry run stopped before.

    ``str()`` renders one block per forward reached: keywords that simply pass are listed on one
    line, every other keyword gets a row with its value, who passed it, and what happens to it
    unguarded and with the guard.
    """

    stopped_at: str | None = None

    def __str__(self) -> str:
        if not self:
            return "explain: the dry run reached no forward"
        blocks, order = {}, []
        for row in self:
            key = (row.module, row.forward)
            if key not in blocks:
                blocks[key] = []
                order.append(key)
            blocks[key].append(row)
        out = []
        for module, forward in order:
            rows = blocks[(module, forward)]
            last = (module, forward) == order[-1]
            stopped = " (the dry run stopped before it ran)" if last and forward == self.stopped_at else ""
            out.append(f"{forward} [{module or 'the model'}]{stopped}")
            notable = [r for r in rows if not (r.unguarded == "passes" and r.guarded == "passes")]
            if notable:
                header = ("keyword", "value", "passed by", "unguarded", "with the guard")
                table = [
                    (r.keyword, r.value, str(r.origin), r.unguarded,
                     r.guarded if r.has_guard else f"{r.guarded} (with a default guard)")
                    for r in notable
                ]
                out.extend(render_table(header, table, indent="  "))
            passing = [r.keyword for r in rows if r.unguarded == "passes" and r.guarded == "passes"]
            if passing:
                out.append(f"  passes: {', '.join(passing)}")
        return "\n".join(out)

    def at(self, forward: str) -> list:
        """The rows for one forward (by qualified name)."""
        return [row for row in self if row.forward == forward]

    def find(self, forward: str, keyword: str) -> "ExplainedKeyword | None":
        return next((row for row in self.at(forward) if row.keyword == keyword), None)


class _Stop(Exception):
    """Raised by the probe at the first forward that would compute."""


def explain(model, *args, **example_inputs) -> Explanation:
    """Dry-run ``model(*args, **example_inputs)`` and say, for each forward reached, which
    keywords arrived, who passed them, and what happens to them with and without the guard.

    >>> import torch
    >>> class Net(torch.nn.Module):
    ...     def forward(self, x, label_ids=None):
    ...         raise AssertionError("explain never runs this")
    >>> rows = explain(Net(), torch.ones(1), labels=None)
    >>> rows[0].keyword, rows[0].unguarded, rows[0].guarded
    ('labels', 'raises TypeError', 'dropped')

    Raises:
        TypeError: ``model`` is not a module.
        Whatever a wrapper's forward raises for another reason, unchanged.
    """
    check_module(model, "explain")
    root = _unwrap_compiled(model)
    paths = {module: name for name, module in root.named_modules()}
    rows, stopped = [], []
    saved = {}
    with LOCK:
        try:
            for module in paths:
                saved[module] = module.__dict__.get("forward", _ABSENT)
                module.__dict__["forward"] = _probe(module, paths[module], rows, stopped)
            try:
                root(*args, **example_inputs)
            except _Stop:
                pass
        finally:
            for module, previous in saved.items():
                if previous is _ABSENT:
                    module.__dict__.pop("forward", None)
                else:
                    module.__dict__["forward"] = previous
    explanation = Explanation(rows)
    explanation.stopped_at = stopped[0] if stopped else None
    return explanation


_ABSENT = object()


def _probe(module, path, rows, stopped):
    current = module.__dict__.get("forward") or type(module).forward.__get__(module, type(module))

    def probe(*args, **kwargs):
        # Signatures are read only for forwards the call reaches, so an odd module elsewhere in
        # the model cannot break explain(). The guard may sit under an accelerate hook
        # (_old_forward), where the forward we replaced does not lead to it.
        state = state_of(current) or find_guard(module)[1]
        accepted = accepted_keywords(current)
        rewrite = state.rewrite if state is not None else Rewrite(accepted, Rules(), _NullLedger())
        unguarded = Rewrite(accepted, Rules(on_unknown="raise"), _NullLedger())
        decisions = rewrite.decide(kwargs)
        plain = unguarded.decide(kwargs)
        for name, value in kwargs.items():
            rows.append(ExplainedKeyword(
                path, accepted.forward, name, value_kind(value), find_origin(name), plain[name],
                decisions[name], state is not None,
            ))
        if accepted.takes_anything:
            # A wrapper: go on inward with what it would actually be given.
            call = state.call if state is not None else current
            return call(*args, **rewrite.preview(kwargs))
        stopped.append(accepted.forward)
        raise _Stop

    return probe


class _NullLedger:
    def note(self, *args, **kwargs):
        return False
