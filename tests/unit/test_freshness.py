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


def test_a_day_is_stale_when_records_wait_in_a_shard_whose_fold_never_ran() -> None:
    # Given records put into shard "b" more than the threshold ago, and no fold of "b" ever reported a watermark
    never_folded = status("b", None, put=NOW - T - 1)
    for statuses in ([never_folded], [status("a", NOW - 1_000), never_folded]):
        # When the freshness is read
        fresh = freshness(statuses, None, T, NOW)
        # Then "b" is behind, as_of is unknown, and every day is stale: nothing says where "b"'s records stop
        assert (fresh.as_of_ms, fresh.lagging) == (None, True)
        assert fresh.stale(NOW) and fresh.stale(NOW - 86_400_000)


def test_a_shard_without_a_watermark_is_behind_only_once_its_records_wait_past_the_threshold() -> None:
    # Given a shard that took records but has not been folded yet, beside a fresh one
    for put, behind in ((NOW - 1_000, False), (NOW - T, False), (NOW - T - 1, True), (NOW - 3_600_000, True)):
        waiting = status("b", None, put=put)
        # When the freshness is read
        fresh = freshness([status("a", NOW - 500), waiting], {"a", "b"}, T, NOW)
        # Then it is behind (and today stale) exactly when its records have waited longer than the threshold
        assert waiting.behind(T, NOW) is behind
        assert (fresh.lagging, fresh.stale(NOW)) == (behind, behind), put
    # A shard nothing was ever put into nor folded says nothing: the day is fresh
    assert not freshness([status("a", NOW - 500), status("b", None)], None, T, NOW).stale(NOW)
