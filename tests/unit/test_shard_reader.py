"""The shard reader against a Kinesis that behaves as the real one does with iterators: each GetRecords hands out a new
iterator, an iterator expires (five minutes after it was issued) and stays expired, and a new one is asked for by
position. The reliability suite's fault injector expires one call at a time; this is the case it cannot show, an
iterator that never works again."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from headcount.local.shards import ShardReader


class Shard:
    """One shard of Kinesis: records with growing sequence numbers, iterators that are tokens of a position."""

    def __init__(self, count: int, closed: bool = False) -> None:
        self.records = [{"SequenceNumber": str(1000 + 7 * i), "Data": f"r-{i}".encode()} for i in range(count)]
        self.closed = closed
        self.positions: dict[str, int] = {}  # iterator -> index of the next record
        self.expired: set[str] = set()
        self.iterator_requests: list[dict[str, Any]] = []

    def expire_every_iterator(self) -> None:
        self.expired |= set(self.positions)

    def _issue(self, position: int) -> str:
        token = f"it-{len(self.positions)}"
        self.positions[token] = position
        return token

    def get_shard_iterator(self, *, StreamName: str, ShardId: str, ShardIteratorType: str, **kwargs: Any) -> dict:  # noqa: N803
        self.iterator_requests.append({"ShardIteratorType": ShardIteratorType, **kwargs})
        if ShardIteratorType == "TRIM_HORIZON":
            return {"ShardIterator": self._issue(0)}
        assert ShardIteratorType == "AFTER_SEQUENCE_NUMBER", ShardIteratorType
        after = int(kwargs["StartingSequenceNumber"])
        return {"ShardIterator": self._issue(sum(int(r["SequenceNumber"]) <= after for r in self.records))}

    def get_records(self, *, ShardIterator: str, Limit: int) -> dict:  # noqa: N803
        if ShardIterator in self.expired or ShardIterator not in self.positions:
            error = {"Error": {"Code": "ExpiredIteratorException", "Message": "Iterator expired"}}
            raise ClientError(error, "GetRecords")
        start = self.positions[ShardIterator]
        batch = self.records[start : start + Limit]
        end = start + len(batch)
        at_end = self.closed and end == len(self.records)
        return {"Records": batch, "NextShardIterator": None if at_end else self._issue(end)}


def reader_of(shard: Shard, after: str | None = None) -> ShardReader:
    reader = ShardReader("stream", "shardId-000000000000", after)
    reader.kinesis = shard
    return reader


def test_an_iterator_that_stays_expired_is_replaced_at_the_last_record_read() -> None:
    # Given a shard of 50 records, read 10 at a time, whose iterators all expire after the second read (a worker that
    # sat idle for over five minutes)
    shard = Shard(50)
    reader = reader_of(shard)
    seen = [r["Data"] for r in reader.read(10) + reader.read(10)]
    shard.expire_every_iterator()
    # When it goes on reading
    for _ in range(20):
        seen += [r["Data"] for r in reader.read(10)]
    # Then every record came once, in order, and the new iterator was asked for after the 20th record's number
    assert seen == [f"r-{i}".encode() for i in range(50)]
    assert shard.iterator_requests[1] == {
        "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
        "StartingSequenceNumber": "1133",
    }


def test_a_reader_from_a_checkpoint_starts_after_it_and_a_closed_shard_read_to_its_end_is_closed() -> None:
    # Given a closed shard and a checkpoint at its 5th record
    shard = Shard(12, closed=True)
    reader = reader_of(shard, after=shard.records[4]["SequenceNumber"])
    # When it is read to the end
    seen = [r["Data"] for _ in range(5) for r in reader.read(4)]
    # Then it read the 7 records after the checkpoint, and knows the shard is done
    assert seen == [f"r-{i}".encode() for i in range(5, 12)]
    assert reader.closed and reader.read(4) == []
