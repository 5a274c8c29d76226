"""The game KPIs' arithmetic on points and sketches (pure): ratios with their bounds carried through, new players as a
Theta set difference, a cohort's returning players as a Theta intersection.

Exact values come from the batch layer's publications; these are what the serving layer computes when a day is not
published yet (today, and yesterday until the nightly job), with the library's 95 % bounds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from headcount.core import sketches
from headcount.core.merge import Point, Stamp


def ratio_points(numerators: Sequence[Point], denominators: Sequence[Point]) -> list[Point]:
    """One point per numerator point: its value over the denominator's of the same bucket (and group, when the
    denominator is grouped too). The bounds are the widest the parts allow (low / high, high / low); exact when both
    parts are. A denominator of 0 gives None (no ratio), as does a bound that would divide by 0."""
    by_cell = {(p.bucket, p.group): p for p in denominators}
    points = []
    for num in numerators:
        den = by_cell.get((num.bucket, num.group)) or by_cell.get((num.bucket, None))
        if den is None:
            continue
        exact = num.exact and den.exact
        if exact:
            source = "batch"
        elif "realtime" in (num.source, den.source):
            source = "realtime"
        elif num.source == den.source == "none":
            source = "none"
        else:
            source = "batch"  # approximate from batch sketches (a window the batch has not published as a whole)
        points.append(
            Point(
                num.bucket,
                num.group,
                _divide(num.value, den.value),
                exact,
                source,
                _divide(num.low, den.high),
                _divide(num.high, den.low),
                _older(num.stamp, den.stamp),
            )
        )
    return points


def _divide(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return a / b  # the float quotient: an exact ratio is exact; rounding is for display (the dashboard)


def _older(a: Stamp, b: Stamp) -> Stamp:
    """The stamp of the part that is less fresh: a ratio is as fresh as its older part."""
    if a.as_of_ms is None or b.as_of_ms is None:
        known = None
    else:
        known = min(a.as_of_ms, b.as_of_ms)
    run = a.run_id if a.run_id == b.run_id else None
    return Stamp(known, a.stale or b.stale, run)


def theta_of_pieces(pieces: Iterable[bytes | None], lg_k: int) -> sketches.compact_theta_sketch:
    """The union of stored Theta sketches (None pieces: nothing)."""
    return sketches.theta_union_of((sketches.theta_decode(p) for p in pieces if p), lg_k)


def new_players(day: Iterable[bytes | None], before: Iterable[bytes | None], lg_k: int) -> sketches.Estimate:
    """Players of the day not among those seen before it: `day` the day's Theta pieces, `before` the batch layer's
    players seen up to its last published day and the real-time days since."""
    return sketches.theta_estimate(new_players_sketch(day, before, lg_k))


def new_players_sketch(
    day: Iterable[bytes | None], before: Iterable[bytes | None], lg_k: int
) -> sketches.compact_theta_sketch:
    return sketches.theta_minus(theta_of_pieces(day, lg_k), theta_of_pieces(before, lg_k))


def returned(cohort: sketches.compact_theta_sketch, active: Iterable[bytes | None], lg_k: int) -> sketches.Estimate:
    """How many of a cohort were active on a later day: the intersection of the cohort with that day's players."""
    return sketches.theta_estimate(sketches.theta_intersect(cohort, theta_of_pieces(active, lg_k)))


@dataclass(frozen=True, slots=True)
class Cell:
    """A number of the retention matrix: a cohort's size, or its players back on day D+k (`value` None: the day has
    not come yet)."""

    value: int | None
    exact: bool
    source: str
    low: int | None
    high: int | None
    stamp: Stamp

    @classmethod
    def of_estimate(cls, estimate: sketches.Estimate, source: str, stamp: Stamp) -> Cell:
        return cls(estimate.value, False, source, estimate.low, estimate.high, stamp)

    @classmethod
    def exactly(cls, value: int, stamp: Stamp) -> Cell:
        return cls(value, True, "batch", value, value, stamp)

    @classmethod
    def not_yet(cls) -> Cell:
        return cls(None, False, "none", None, None, Stamp(None))

    def to_json(self) -> dict[str, object]:
        return {
            "value": self.value,
            "exact": self.exact,
            "source": self.source,
            "low": self.low,
            "high": self.high,
            "as_of": self.stamp.as_of,
            "stale": self.stamp.stale,
        }
