"""The bounds served with an estimate are 95 % bounds: about two relative standard errors each side of it, not one
(too narrow: they miss the truth often) nor three (99.7 % bounds labelled 95 %)."""

import pytest

from headcount.core import sketches

N = 100_000  # distinct players: well into the sketches' estimation modes at these lg_k
PLAYERS = [f"p-{i}" for i in range(N)]


def half_width(estimate: sketches.Estimate) -> float:
    return (estimate.high - estimate.low) / 2


@pytest.mark.parametrize("lg_k", [12, 14])
def test_a_union_of_shard_sketches_is_served_with_two_standard_errors_each_side(lg_k: int) -> None:
    # Given three shards' HLL sketches of a third of N known players each, as the fold stores them
    shards = [sketches.decode(sketches.of_values(PLAYERS[i::3], lg_k)) for i in range(3)]
    # When their union is estimated, as the serving layer does
    estimate = sketches.estimate(sketches.union(shards, lg_k))
    # Then the bounds hold N, and their half-width is about 2 RSEs (a union's: without the HIP estimator)
    rse = sketches.relative_standard_error(lg_k)
    assert estimate.low <= N <= estimate.high
    assert 1.5 * rse * N <= half_width(estimate) <= 2.5 * rse * N, half_width(estimate) / (rse * N)


@pytest.mark.parametrize("lg_k", [12, 14])
def test_a_sketch_built_by_updates_is_served_with_two_of_its_standard_errors_each_side(lg_k: int) -> None:
    # Given one HLL sketch of N known players, built by updates (it keeps its HIP estimator)
    sketch = sketches.decode(sketches.of_values(PLAYERS, lg_k))
    # When it is estimated
    estimate = sketches.estimate(sketch)
    # Then its bounds are about 2 of its RSEs each side
    rse = sketches.relative_standard_error(lg_k, unioned=False)
    assert estimate.low <= N <= estimate.high
    assert 1.5 * rse * N <= half_width(estimate) <= 2.5 * rse * N, half_width(estimate) / (rse * N)


@pytest.mark.parametrize("lg_k", [12, 14])
def test_a_theta_sketch_is_served_with_two_standard_errors_each_side(lg_k: int) -> None:
    # Given a Theta sketch of N known players (it keeps about 2^lg_k hashes: an RSE of 1/sqrt(2^lg_k))
    sketch = sketches.theta_decode(sketches.theta_of_values(PLAYERS, lg_k))
    # When it is estimated
    estimate = sketches.theta_estimate(sketch)
    # Then its bounds are about 2 RSEs each side
    rse = 2 ** (-lg_k / 2)
    assert estimate.low <= N <= estimate.high
    assert 1.5 * rse * N <= half_width(estimate) <= 2.5 * rse * N, half_width(estimate) / (rse * N)
