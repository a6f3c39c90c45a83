"""Plain-text tables for the CLI (no third-party dependency)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _grid(rows: Sequence[Sequence[Any]], headers: Sequence[Any] | None) -> list[list[str]]:
    width = max([len(r) for r in rows] + [len(headers) if headers else 0])
    lines = ([list(headers)] if headers else []) + [list(r) for r in rows]
    return [[str(c) for c in line] + [""] * (width - len(line)) for line in lines]


def _widths(grid: list[list[str]]) -> list[int]:
    return [max(len(line[i]) for line in grid) for i in range(len(grid[0]))]


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[Any] | None = None) -> str:
    """A bordered table; ``"No data to display."`` when there are no rows."""
    if not rows:
        return "No data to display."
    grid = _grid(rows, headers)
    widths = _widths(grid)
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells: list[str]) -> str:
        return "|" + "|".join(f" {c.ljust(w)} " for c, w in zip(cells, widths, strict=False)) + "|"

    out = [border]
    if headers:
        out += [line(grid[0]), border]
        grid = grid[1:]
    out += [line(cells) for cells in grid]
    out.append(border)
    return "\n".join(out)


def simple_table(rows: Sequence[Sequence[Any]], headers: Sequence[Any] | None = None) -> str:
    """Aligned columns without borders, a dash line under the header."""
    if not rows:
        return "No data to display."
    grid = _grid(rows, headers)
    widths = _widths(grid)
    out = [" ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)) for cells in grid]
    if headers:
        out.insert(1, "-" * sum(widths))
    return "\n".join(out)
