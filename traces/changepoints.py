"""Change points of a metric's history, found with asv's own step detection.

``asv.step_detect.detect_steps`` fits a piecewise-constant function to a series (an L1
Potts model with an automatically chosen penalty); each new segment starts at a change
point. Simulated metrics are deterministic, so any step it finds is a real change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from asv.step_detect import detect_steps


@dataclass(frozen=True)
class ChangePoint:
    """A level change: ``index`` is the first point of the new level."""

    index: int
    before: float
    after: float

    @property
    def change_pct(self) -> float:
        """Relative change in percent (inf when the level before was 0)."""
        if self.before == 0:
            return math.inf if self.after != 0 else 0.0
        return 100.0 * (self.after - self.before) / abs(self.before)


def change_points(values: Sequence[float | None]) -> list[ChangePoint]:
    """Change points of ``values`` in order (None / NaN are missing points)."""
    series = [
        None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values
    ]
    if sum(v is not None for v in series) < 2:
        return []
    steps = detect_steps(series)
    return [
        ChangePoint(index=right[0], before=left[2], after=right[2])
        for left, right in zip(steps, steps[1:], strict=False)
    ]
