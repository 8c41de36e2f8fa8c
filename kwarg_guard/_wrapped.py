"""Walking a callable's ``__wrapped__`` chain: the one place that follows decorators inward.

``functools.wraps`` (and accelerate, torch's autocast, transformers' ``@can_return_tuple``, and
kwarg_guard's own class guards) leave ``__wrapped__`` pointing at the callable they wrap. The
signature, the keywords a decorator consumes, the namespace that postponed annotations refer
to, and a guard already inside a forward are all found by walking that chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["innermost_function", "wrapper_chain"]

# Longer chains than this are a cycle or a runaway wrapper, not real decorators.
_MAX_DEPTH = 64


def wrapper_chain(fn: Any) -> Iterator[Any]:
    """``fn``, then each callable below it through ``__wrapped__``, outermost first.

    A bound method's ``__wrapped__`` is its function's, so bound methods walk like their
    functions. Cycles end the walk instead of looping.
    """
    seen: set[int] = set()
    while fn is not None and id(fn) not in seen and len(seen) < _MAX_DEPTH:
        seen.add(id(fn))
        yield fn
        fn = getattr(fn, "__wrapped__", None)


def innermost_function(fn: Any) -> Callable[..., Any] | None:
    """The plain Python function at the bottom of ``fn``'s chain (``None`` if there is none)."""
    last = None
    for level in wrapper_chain(fn):
        function = getattr(level, "__func__", level)
        if hasattr(function, "__code__") and hasattr(function, "__globals__"):
            last = function
    return last
