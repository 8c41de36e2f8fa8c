"""Plain-text tables for ``report()`` and ``explain()``: columns padded to their widest cell."""

from __future__ import annotations

__all__ = ["render_table"]


def render_table(header: tuple, rows: list, indent: str = "") -> list:
    """Lines of a table with a dashed rule under the header; trailing spaces trimmed."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in (header, *rows)]
    lines.insert(1, indent + "  ".join("-" * width for width in widths))
    return lines
