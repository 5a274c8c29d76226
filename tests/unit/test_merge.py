"""The serving merge of one day (`merge_day`): a published batch day wins over the real-time items and is exact, its
empty buckets included; an unpublished day is the union (distinct) or sum (count) of the real-time shards' items, with
bounds, never exact; a group asks for its own cells only."""

from headcount.core import sketches
from headcount.core.merge import Partial, Stamp, merge_day
from headcount.views.catalog_file import load_catalog

CATALOG = load_catalog()
ACTIVE = CATALOG.get("active_players")  # distinct, daily
BY_COUNTRY = CATALOG.get("active_players_by_country")  # distinct, daily, grouped by country
ADS = CATALOG.get("ad_impressions")  # count, hourly
DAY = "2026-11-18"
HOURS = [f"{DAY}T{h:02d}" for h in (8, 9, 10)]
STAMP = Stamp(1_795_000_000_000, stale=True, run_id="run-1")


def players(first: int, last: int) -> list[str]:
    return [f"p-{i}" for i in range(first, last)]


def shard_sketch(ids: list[str], lg_k: int) -> bytes:
    return sketches.of_values(ids, lg_k)


def rows(points):
    return [(p.bucket, p.group, p.value, p.exact, p.source, p.low, p.high) for p in points]


def test_a_published_count_wins_over_the_real_time_items_and_is_exact_in_every_bucket() -> None:
    # Given a published day with 7 impressions at 08, and real-time shard items at 08 and 09 that disagree with it
    batch = [Partial(HOURS[0], "", count=7)]
    realtime = [Partial(HOURS[0], "", count=3), Partial(HOURS[0], "", count=100), Partial(HOURS[1], "", count=5)]
    # When the day is merged
    points = merge_day(ADS, HOURS, batch, realtime, STAMP)
    # Then the publication is the answer, exact, and its buckets without a row are 0, exact, from the batch
    assert rows(points) == [
        (HOURS[0], None, 7, True, "batch", 7, 7),
        (HOURS[1], None, 0, True, "batch", 0, 0),
        (HOURS[2], None, 0, True, "batch", 0, 0),
    ]
    assert all(p.stamp == STAMP for p in points)


def test_a_published_distinct_cell_is_its_exact_count_whatever_the_real_time_sketches_say() -> None:
    # Given a published day of 42 players, and real-time shard sketches of 1,000 players that day
    batch = [Partial(DAY, "", count=42, sketch=shard_sketch(players(0, 42), ACTIVE.lg_k))]
    realtime = [Partial(DAY, "", sketch=shard_sketch(players(0, 1_000), ACTIVE.lg_k))]
    # When the day is merged
    (point,) = merge_day(ACTIVE, [DAY], batch, realtime, STAMP)
    # Then it is the batch's exact count, bounds closed on it
    assert (point.value, point.exact, point.source, point.low, point.high) == (42, True, "batch", 42, 42)


def test_an_empty_publication_is_still_exact_zero() -> None:
    # Given a day published with no rows at all, and real-time items
    realtime = [Partial(DAY, "", sketch=shard_sketch(players(0, 10), ACTIVE.lg_k))]
    # When the day is merged
    (point,) = merge_day(ACTIVE, [DAY], [], realtime, STAMP)
    # Then the publication says nobody came, exactly
    assert rows([point]) == [(DAY, None, 0, True, "batch", 0, 0)]


def test_an_unpublished_day_sums_the_shards_counts_not_exact() -> None:
    # Given no publication, and two shards' counts at 08 and one at 10
    realtime = [Partial(HOURS[0], "", count=3), Partial(HOURS[0], "", count=4), Partial(HOURS[2], "", count=1)]
    # When the day is merged
    points = merge_day(ADS, HOURS, None, realtime, STAMP)
    # Then each bucket is the sum of its shards, not exact; a bucket without items is 0 from nowhere, not exact either
    assert rows(points) == [
        (HOURS[0], None, 7, False, "realtime", 7, 7),
        (HOURS[1], None, 0, False, "none", 0, 0),
        (HOURS[2], None, 1, False, "realtime", 1, 1),
    ]


def test_an_unpublished_day_unions_the_shards_sketches_with_bounds() -> None:
    # Given no publication, and two shards that saw 1,000 players each, 500 of them on both
    realtime = [
        Partial(DAY, "", sketch=shard_sketch(players(0, 1_000), ACTIVE.lg_k)),
        Partial(DAY, "", sketch=shard_sketch(players(500, 1_500), ACTIVE.lg_k)),
    ]
    # When the day is merged
    (point,) = merge_day(ACTIVE, [DAY], None, realtime, STAMP)
    # Then the players are counted once (the union, not the sum), with bounds around the estimate, not exact
    assert (point.exact, point.source) == (False, "realtime")
    assert point.low <= 1_500 <= point.high and point.low <= point.value <= point.high
    assert abs(point.value - 1_500) < 1_500 * 0.05 and point.low < point.high


def test_a_group_asks_for_its_own_cells_only() -> None:
    # Given country cells, real-time (DE and FR) and published (DE and US)
    realtime = [
        Partial(DAY, "DE", sketch=shard_sketch(players(0, 10), BY_COUNTRY.lg_k)),
        Partial(DAY, "DE", sketch=shard_sketch(players(5, 20), BY_COUNTRY.lg_k)),
        Partial(DAY, "FR", sketch=shard_sketch(players(100, 103), BY_COUNTRY.lg_k)),
    ]
    batch = [Partial(DAY, "DE", count=21), Partial(DAY, "US", count=4)]
    # When the unpublished day is merged for all groups, for DE, and for a group it has no cell of
    every = merge_day(BY_COUNTRY, [DAY], None, realtime, STAMP)
    de = merge_day(BY_COUNTRY, [DAY], None, realtime, STAMP, group="DE")
    nowhere = merge_day(BY_COUNTRY, [DAY], None, realtime, STAMP, group="JP")
    # Then every group has its point, in order; DE's is the union of DE's items only; a group without cells is 0
    assert [(p.group, p.value, p.source) for p in every] == [("DE", 20, "realtime"), ("FR", 3, "realtime")]
    assert [(p.group, p.value, p.exact) for p in de] == [("DE", 20, False)]
    assert rows(nowhere) == [(DAY, "JP", 0, False, "none", 0, 0)]
    # And on the published day, the group's batch cell, exact; a group it has no row of is an exact 0
    assert rows(merge_day(BY_COUNTRY, [DAY], batch, realtime, STAMP, group="DE")) == [
        (DAY, "DE", 21, True, "batch", 21, 21)
    ]
    assert rows(merge_day(BY_COUNTRY, [DAY], batch, realtime, STAMP, group="FR")) == [
        (DAY, "FR", 0, True, "batch", 0, 0)
    ]
    assert [p.group for p in merge_day(BY_COUNTRY, [DAY], batch, realtime, STAMP)] == ["DE", "US"]
