"""A griffe extension for the API reference: docstring examples become code blocks.

The docstrings hold their ``>>>`` examples in the running text (they run as doctests there). In
Markdown a line that starts with ``>`` opens a blockquote, so ``>>>`` renders as three nested
quotes with the lines run together, and ``[...]`` in an expected output reads as a link. Each
run of example lines, up to the blank line that ends a doctest, is fenced as a ``pycon`` block;
what is already inside a fence is left alone.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_examples(text: str) -> str:
    """``text`` with every doctest example (a ``>>>`` line up to the next blank line) fenced."""
    out: list[str] = []
    in_fence = False
    example_indent: str | None = None  # the indent of the example being fenced, if one is
    for line in text.split("\n"):
        stripped = line.strip()
        if example_indent is not None and not stripped:
            out.append(example_indent + "```")
            example_indent = None
        elif example_indent is None and stripped.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and example_indent is None and stripped.startswith(">>>"):
            example_indent = line[: len(line) - len(line.lstrip())]
            out.append(example_indent + "```pycon")
        out.append(line)
    if example_indent is not None:
        out.append(example_indent + "```")
    return "\n".join(out)


class DoctestExamples(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_examples(obj.docstring.value)
