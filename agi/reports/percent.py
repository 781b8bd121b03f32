"""Percentages as every report shows them (docs/reports.md#definitions):
from the exact ratio of two counts, to one decimal, halves rounded up
(1 of 16 is 6.3 %), as a spreadsheet's ROUND or SQL's round() gives them."""
from __future__ import annotations

from fractions import Fraction
from math import floor


def percent(part: float, whole: float) -> float | None:
    """``part`` / ``whole`` in percent to one decimal, halves up; None when
    ``whole`` is not above 0."""
    if whole <= 0:
        return None
    if isinstance(part, int) and isinstance(whole, int):  # counts: the same, in whole numbers
        return (2000 * part + whole) // (2 * whole) / 10
    tenths = Fraction(part) * 1000 / Fraction(whole)
    return floor(tenths + Fraction(1, 2)) / 10
