"""Half-open integer intervals ``(start, end)`` kept as sorted, disjoint, non-touching lists."""

from __future__ import annotations

from collections.abc import Iterable

Span = tuple[int, int]

__all__ = ["Span", "clip", "merge", "subtract"]


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sort, drop empty spans and coalesce overlapping or touching ones."""
    out: list[Span] = []
    for s, e in sorted(sp for sp in spans if sp[1] > sp[0]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def subtract(a: list[Span], b: list[Span]) -> list[Span]:
    """``a`` minus ``b`` (both merged)."""
    out: list[Span] = []
    j = 0
    for s, e in a:
        while j < len(b) and b[j][1] <= s:
            j += 1
        k = j
        cur = s
        while k < len(b) and b[k][0] < e:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            k += 1
        if cur < e:
            out.append((cur, e))
    return out


def clip(spans: list[Span], lo: int, hi: int) -> list[Span]:
    """The parts of ``spans`` inside ``[lo, hi)``."""
    return [(max(s, lo), min(e, hi)) for s, e in spans if e > lo and s < hi]
