"""Apache DataSketches HLL settings and codec.

The real-time layer updates and stores HLL_4 sketches (half the bytes of HLL_8, as fast to update here). Spark's
`hll_sketch_agg` writes HLL_8 and hashes strings like the Python library, so sketches of both layers union.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datasketches import hll_sketch, hll_union, tgt_hll_type

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


def grows(sketch: hll_sketch, value: str) -> bool:
    """Add the value; True when it changed the sketch (exact for a sketch built by updates, as `update_all`)."""
    before = sketch.get_estimate()
    sketch.update(value)
    return sketch.get_estimate() != before


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
