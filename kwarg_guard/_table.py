"""Plain-text tables for ``report()`` and ``explain()`` that fit a terminal.

Columns are padded to their widest cell; when the table would be wider than ``width``, the
widest columns are narrowed and their cells wrap onto continuation lines.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

__all__ = ["TERMINAL_WIDTH", "render_table"]

TERMINAL_WIDTH = 100
_GAP = 2
_NARROWEST = 16


def render_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    indent: str = "",
    width: int = TERMINAL_WIDTH,
    narrow_first: Sequence[int] = (),
    details: Sequence[str] = (),
) -> list[str]:
    """Lines of a table with a dashed rule under the header; trailing spaces trimmed.

    ``narrow_first`` lists columns that give up width before the others. ``details`` gives each
    row a line of free text under it (wrapped, indented past the first column), for what is too
    long to sit in a column.
    """
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    budget = width - len(indent) - _GAP * (len(widths) - 1)
    for columns in (narrow_first, range(len(widths))):
        while sum(widths) > budget:
            narrowable = [i for i in columns if widths[i] > _NARROWEST]
            if not narrowable:
                break
            widths[max(narrowable, key=widths.__getitem__)] -= 1
    lines = []
    for index, row in enumerate((header, *rows)):
        wrapped = [textwrap.wrap(cell, w, break_on_hyphens=False) or [""] for cell, w in zip(row, widths, strict=False)]
        for part in range(max(len(cell) for cell in wrapped)):
            cells = [cell[part] if part < len(cell) else "" for cell in wrapped]
            lines.append(indent + (" " * _GAP).join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip())
        if index == 0:
            lines.append(indent + (" " * _GAP).join("-" * w for w in widths))
        elif details and details[index - 1]:
            # Under the second column, unless the first is so wide that little room would be left.
            under = indent + " " * (widths[0] + _GAP if widths[0] + _GAP <= width // 3 else 2 * _GAP)
            lines.extend(textwrap.wrap(details[index - 1], width, initial_indent=under, subsequent_indent=under + "  "))
    return lines
