"""Apache DataSketches HLL and Theta settings and codecs.

The real-time layer updates and stores HLL_4 sketches (half the bytes of HLL_8, as fast to update here). Spark's
`hll_sketch_agg` writes HLL_8 and hashes strings like the Python library, so sketches of both layers union.

HLL cannot subtract or intersect: new players (today's players minus everyone seen before) and retention (a cohort
intersected with a later day's players) use Theta sketches, stored compact (8 bytes per retained hash, up to 2^lg_k of
them), built by the same Python library in both layers.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from datasketches import (
    compact_theta_sketch,
    hll_sketch,
    hll_union,
    tgt_hll_type,
    theta_a_not_b,
    theta_intersection,
    theta_union,
    update_theta_sketch,
)

NUM_STD_DEV = 2  # the bounds we report: about 95 %


@dataclass(frozen=True, slots=True)
class Estimate:
    value: int
    low: int
    high: int


def new_sketch(lg_k: int) -> hll_sketch:
    return hll_sketch(lg_k, tgt_hll_type.HLL_4)


def update_all(sketch: hll_sketch, values: Iterable[str]) -> bool:
    """Add the values; True when the sketch changed.

    Exact, not a guess: a sketch built by updates (never by a union) keeps its HIP estimator, so its estimate grows with
    every new coupon (list and set modes) and with every register that grows (HLL mode), and stays put otherwise.
    """
    before = sketch.get_estimate()
    for value in values:
        sketch.update(value)
    return sketch.is_empty() is False and sketch.get_estimate() != before


def grown_by(sketch: hll_sketch, values: Iterable[str]) -> list[str]:
    """Add the values in order; those that changed the sketch (exact for a sketch built by updates, as `update_all`).
    The fold's hot loop: one update and one estimate a value."""
    update, estimate = sketch.update, sketch.get_estimate
    grown: list[str] = []
    before = estimate()
    for value in values:
        update(value)
        after = estimate()
        if after != before:
            grown.append(value)
            before = after
    return grown


def of_values(values: Iterable[str], lg_k: int) -> bytes:
    """The stored form of a sketch of these values."""
    sketch = new_sketch(lg_k)
    for value in values:
        sketch.update(value)
    return encode(sketch)


def encode(sketch: hll_sketch) -> bytes:
    """The stored form: HLL_4 compact."""
    if sketch.tgt_type != tgt_hll_type.HLL_4:
        union = hll_union(sketch.lg_config_k)
        union.update(sketch)
        sketch = union.get_result(tgt_hll_type.HLL_4)
    return sketch.serialize_compact()


def decode(data: bytes) -> hll_sketch:
    return hll_sketch.deserialize(bytes(data))


def union(sketches: Iterable[hll_sketch], lg_k: int) -> hll_sketch:
    merged = hll_union(lg_k)
    for sketch in sketches:
        merged.update(sketch)
    return merged.get_result(tgt_hll_type.HLL_8)


def unions_before(parts: Sequence[Iterable[hll_sketch]], at: Collection[int], lg_k: int) -> dict[int, bytes | None]:
    """The stored union of `parts[:i]` for each `i` in `at` (None: no sketch before it), in one pass."""
    merged, empty, found = hll_union(lg_k), True, {}
    for i in range(len(parts) + 1):
        if i in at:
            found[i] = None if empty else merged.get_result(tgt_hll_type.HLL_4).serialize_compact()
        for sketch in parts[i] if i < len(parts) else ():
            merged.update(sketch)
            empty = False
    return found


def estimate(sketch: hll_sketch) -> Estimate:
    if sketch.is_empty():
        return Estimate(0, 0, 0)
    return Estimate(
        round(sketch.get_estimate()),
        int(sketch.get_lower_bound(NUM_STD_DEV)),
        -int(-sketch.get_upper_bound(NUM_STD_DEV) // 1),
    )


def relative_standard_error(lg_k: int, unioned: bool = True) -> float:
    """One RSE of an HLL estimate at this lg_k (upper-bound side, the wider one).

    Served values are unions of shard sketches, which lose the HIP estimator: hence `unioned` by default.
    """
    return abs(hll_sketch.get_rel_err(True, unioned, lg_k, 1))


# --- Theta: set operations -------------------------------------------------------------------------------------------

EXACT_LG_K = 20  # an update sketch this large samples nothing below a million values: a batch's values, exactly


def theta_of_values(values: Iterable[str], lg_k: int) -> bytes:
    """The stored form (compact, serialized) of a Theta sketch of these values, as a union of lg_k would keep it."""
    return _theta_with(None, values, lg_k)


def _theta_with(stored: compact_theta_sketch | None, values: Iterable[str], lg_k: int) -> bytes:
    """A stored sketch (or none) and values, as one compact sketch: the values through an update sketch that samples
    none of them, then the union's rule."""
    sketch = update_theta_sketch(EXACT_LG_K)
    for value in values:
        sketch.update(value)
    merged = theta_union(lg_k)
    if stored is not None:
        merged.update(stored)
    merged.update(sketch)
    return merged.get_result().serialize()


def theta_decode(data: bytes) -> compact_theta_sketch:
    return compact_theta_sketch.deserialize(bytes(data))


def theta_union_of(sketches: Iterable[compact_theta_sketch], lg_k: int) -> compact_theta_sketch:
    merged = theta_union(lg_k)
    for sketch in sketches:
        merged.update(sketch)
    return merged.get_result()


def theta_minus(a: compact_theta_sketch, b: compact_theta_sketch) -> compact_theta_sketch:
    """The players of `a` not in `b` (the library's A-not-B)."""
    return theta_a_not_b().compute(a, b)


def theta_intersect(a: compact_theta_sketch, b: compact_theta_sketch) -> compact_theta_sketch:
    both = theta_intersection()
    both.update(a)
    both.update(b)
    return both.get_result()


def theta_estimate(sketch: compact_theta_sketch) -> Estimate:
    """The estimate with the library's 95 % bounds (exact, low = high = value, while nothing was sampled away)."""
    if sketch.is_empty():
        return Estimate(0, 0, 0)
    return Estimate(
        round(sketch.get_estimate()),
        int(sketch.get_lower_bound(NUM_STD_DEV)),
        -int(-sketch.get_upper_bound(NUM_STD_DEV) // 1),
    )


class ThetaState:
    """What a Theta union of lg_k keeps (the smallest 2^lg_k hashes below theta), updated value by value, so the fold
    tells exactly which values change a stored sketch (a compact sketch cannot be updated in place).

    A value changes it when its hash is below theta and not retained yet; past 2^lg_k hashes the largest goes and
    becomes theta. The same rule as the library's union (checked against it in the tests)."""

    def __init__(self, lg_k: int, stored: bytes | None = None) -> None:
        self.lg_k = lg_k
        self.k = 1 << lg_k
        self.stored = theta_decode(stored) if stored else None
        self.hashes: set[int] = set(self.stored) if self.stored is not None else set()
        self._largest = [-h for h in self.hashes]  # a max-heap of the hashes kept
        heapq.heapify(self._largest)
        self.theta64 = self.stored.theta64 if self.stored is not None else (1 << 63) - 1
        self.values: list[str] = []  # every value added since the stored sketch
        self._single = update_theta_sketch(EXACT_LG_K)  # one value's hash at a time (`_theta_hash`), reset each time

    def grows(self, value: str) -> bool:
        """Add the value; True when it changed what the union keeps."""
        self.values.append(value)
        hashed = _theta_hash(value, self._single)
        if hashed is None or hashed >= self.theta64 or hashed in self.hashes:
            return False
        self.hashes.add(hashed)
        heapq.heappush(self._largest, -hashed)
        if len(self.hashes) > self.k:
            largest = -heapq.heappop(self._largest)
            self.hashes.remove(largest)
            self.theta64 = largest
        return True

    def grown_by(self, values: Iterable[str]) -> list[str]:
        """Add the values in order; those that changed what the union keeps."""
        return [value for value in values if self.grows(value)]

    def serialize(self) -> bytes:
        """The stored sketch and every value added, as one compact sketch."""
        return _theta_with(self.stored, self.values, self.lg_k)


def _theta_hash(value: str, single: update_theta_sketch | None = None) -> int | None:
    """The 63-bit hash the library keeps for a value (None for one it ignores: the empty string); `single`: an update
    sketch of EXACT_LG_K to reuse (reset here), which saves making one."""
    if single is None:
        single = update_theta_sketch(EXACT_LG_K)
    else:
        single.reset()
    single.update(value)
    return next(iter(single), None)
