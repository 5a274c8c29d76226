"""Freshness from the shards' statuses: as_of is the oldest watermark; behind means records wait, not that a shard
is quiet."""

from headcount.core.freshness import ShardStatus, freshness

NOW = 1_795_000_000_000
T = 60_000  # the threshold


def status(shard: str, watermark: int | None, lag: int = 500, put: int | None = None) -> ShardStatus:
    folded = watermark + lag if watermark is not None else None  # the fold ran lag after its newest record arrived
    return ShardStatus(shard, watermark, lag, frozenset({"2026-11-18"}), put, folded)


def test_as_of_is_the_oldest_watermark_of_the_open_shards() -> None:
    fresh = freshness(
        [status("a", NOW - 5_000), status("b", NOW - 2_000), status("old", NOW - 9e6)], {"a", "b"}, T, NOW
    )
    assert (fresh.as_of_ms, fresh.lagging, fresh.days) == (NOW - 5_000, False, frozenset({"2026-11-18"}))
    # A shard that has applied nothing yet cannot say: as_of is unknown
    assert freshness([status("a", NOW - 5_000), status("b", None, put=NOW)], None, T, NOW).as_of_ms is None


def test_a_quiet_shard_is_not_behind_but_one_whose_records_wait_is() -> None:
    quiet = status("a", NOW - 3_600_000, put=NOW - 3_600_100)
    assert not freshness([quiet, status("b", NOW - 1_000)], None, T, NOW).lagging
    waiting = status("a", NOW - 3_600_000, put=NOW - 1_000)  # records put an hour after its watermark
    fresh = freshness([waiting, status("b", NOW - 1_000)], None, T, NOW)
    assert fresh.lagging and fresh.stale(NOW) and not fresh.stale(NOW - 3_600_000)  # an earlier day's end: it is in
    assert freshness([status("a", NOW - T - 2_000, lag=T + 1)], None, T, NOW).lagging  # catching up a backlog
    # and once that report is older than the threshold, with nothing put since, the backlog is over
    assert not freshness([status("a", NOW - 3 * T, lag=T + 1)], None, T, NOW).lagging
    assert freshness([status("a", None, put=NOW - T - 1)], None, T, NOW).lagging  # put, never applied
    assert not freshness([status("a", None, put=NOW - 1_000)], None, T, NOW).lagging  # just put
