"""Nearest-rank percentiles, as the warm pools' demand, the cost report and `status` state them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

N = TypeVar("N", int, float)


def percentile(values: Sequence[N], share: float) -> N | None:
    """Nearest rank: the smallest value that at least `share` of `values` do not exceed; None if empty."""
    if not values:
        return None
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]
