"""The local archiver writes what Firehose would, and a crash at any point loses nothing."""

import gzip
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from headcount.local.archiver import ArchiveSettings, ShardArchiver

T0 = datetime(2026, 11, 25, 8, 59, 58, tzinfo=UTC)


def records(n, first=100):
    return [
        {
            "SequenceNumber": str(first + i),
            "Data": b'{"i": %d}' % i if i % 2 else b'{"i": %d}\n' % i,
            "PartitionKey": "p",
            "ApproximateArrivalTimestamp": T0 + timedelta(seconds=i),
        }
        for i in range(n)
    ]


def archived_lines(lake):
    lines = []
    for path in sorted(lake.rglob("*.json.gz")):
        with gzip.open(path) as f:
            lines += [(path.parent.parent.name, path.parent.name, line) for line in f.read().splitlines()]
    return lines


def test_records_land_one_per_line_in_their_arrival_hour_and_then_the_checkpoint_moves(tmp_path):
    commits = []
    archiver = ShardArchiver(
        ArchiveSettings(buffer_bytes=10**6, buffer_interval_s=3600), tmp_path, "shardId-0", commits.append
    )
    archiver.offer(records(4))
    archiver.tick(closed=False)
    assert commits == [] and archived_lines(tmp_path) == []  # still buffering
    archiver.tick(closed=True)
    assert commits == ["103"]
    assert archived_lines(tmp_path) == [
        ("dt=2026-11-25", "hr=08", b'{"i": 0}'),
        ("dt=2026-11-25", "hr=08", b'{"i": 1}'),
        ("dt=2026-11-25", "hr=09", b'{"i": 2}'),
        ("dt=2026-11-25", "hr=09", b'{"i": 3}'),
    ]
    assert not list(tmp_path.rglob(".*"))  # no temporary file left


def test_a_crash_between_files_moves_no_checkpoint_and_the_retry_loses_nothing(tmp_path):
    commits = []
    archiver = ShardArchiver(
        ArchiveSettings(buffer_bytes=1, buffer_interval_s=0), tmp_path, "shardId-0", commits.append
    )
    archiver.offer(records(4))
    real_replace = __import__("os").replace
    calls = []

    def crash_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk gone")
        return real_replace(src, dst)

    with mock.patch("headcount.views.lake.os.replace", crash_on_second), pytest.raises(OSError):
        archiver.tick(closed=False)
    assert commits == []  # the first hour's file is in place, but the checkpoint did not move

    # the worker restarts from its checkpoint and reads the same records again
    retry = ShardArchiver(ArchiveSettings(buffer_bytes=1, buffer_interval_s=0), tmp_path, "shardId-0", commits.append)
    retry.offer(records(4))
    retry.tick(closed=False)
    assert commits == ["103"]
    assert sorted(line for _, _, line in archived_lines(tmp_path)) == [b'{"i": %d}' % i for i in range(4)]
