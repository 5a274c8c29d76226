"""The local event-source mapping follows Lambda's rules for Kinesis."""

from datetime import UTC, datetime, timedelta

from headcount.local.esm import MappingSettings, ShardMapping

ARRIVED = datetime(2026, 11, 26, tzinfo=UTC)  # when Kinesis stamped every record of these tests


class Clock:
    """The wall clock the mapping measures record ages with; a test moves it."""

    def __init__(self, at):
        self.at = at.timestamp()

    def __call__(self):
        return self.at


def kinesis_records(n, first=1000):
    return [
        {
            "SequenceNumber": str(first + i),
            "Data": b'{"i": %d}\n' % i,
            "PartitionKey": "p",
            "ApproximateArrivalTimestamp": ARRIVED,
        }
        for i in range(n)
    ]


class Recorder:
    def __init__(self, respond):
        self.respond, self.calls, self.commits, self.failures = respond, [], [], []
        self.clock = Clock(ARRIVED + timedelta(minutes=1))  # the records are a minute old

    def invoke(self, event, context):
        seqs = [int(r["kinesis"]["sequenceNumber"]) for r in event["Records"]]
        self.calls.append(seqs)
        return self.respond(seqs, event)

    def mapping(self, **settings):
        base = {"batch_size": 10, "batching_window_s": 0, "retry_backoff_s": 0}
        return ShardMapping(
            MappingSettings(**{**base, **settings}),
            "shardId-000000000000",
            "arn:aws:kinesis:us-east-1:123456789012:stream/s",
            self.invoke,
            self.commits.append,
            self.failures.append,
            clock=self.clock,
            monotonic=self.clock,  # one clock the test moves: the window's and the records' age
        )


def test_the_event_has_lambdas_kinesis_shape():
    recorder = Recorder(lambda seqs, event: None)
    event = recorder.mapping().event(kinesis_records(1))
    record = event["Records"][0]
    assert record["eventID"] == "shardId-000000000000:1000" and record["eventSource"] == "aws:kinesis"
    assert record["kinesis"]["data"] == "eyJpIjogMH0K" and record["kinesis"]["sequenceNumber"] == "1000"
    assert isinstance(record["kinesis"]["approximateArrivalTimestamp"], float)


def test_batches_are_cut_at_batch_size_and_checkpointed():
    recorder = Recorder(lambda seqs, event: {"batchItemFailures": []})
    mapping = recorder.mapping()
    mapping.offer(kinesis_records(25))
    mapping.tick(closed=False)
    mapping.tick(closed=False)
    mapping.tick(closed=True)
    assert [len(c) for c in recorder.calls] == [10, 10, 5] and recorder.commits[-1] == "1024"


def test_the_batching_window_holds_a_small_batch_until_it_ends():
    # Given a 60 s batching window, and 3 records (a batch holds 10) offered at t0, 2 more at t0 + 30 s
    recorder = Recorder(lambda seqs, event: None)
    mapping = recorder.mapping(batching_window_s=60)
    t0 = recorder.clock.at
    mapping.offer(kinesis_records(3))
    mapping.tick(closed=False)
    recorder.clock.at = t0 + 30
    mapping.offer(kinesis_records(2, first=1003))
    # When the mapping ticks before the window ends (it started with the first records, not the last)
    for at in (t0 + 30, t0 + 59.9):
        recorder.clock.at = at
        mapping.tick(closed=False)
        # Then nothing is delivered yet
        assert recorder.calls == [] and recorder.commits == []
    # When the clock passes the window's end
    recorder.clock.at = t0 + 60.5
    mapping.tick(closed=False)
    # Then the held records go, as one batch, and are checkpointed
    assert recorder.calls == [[1000, 1001, 1002, 1003, 1004]] and recorder.commits == ["1004"]
    assert mapping.empty()


def test_partial_failure_resumes_at_the_lowest_reported_record():
    answers = iter(
        [{"batchItemFailures": [{"itemIdentifier": "1007"}, {"itemIdentifier": "1004"}]}, {"batchItemFailures": []}]
    )
    recorder = Recorder(lambda seqs, event: next(answers))
    mapping = recorder.mapping()
    mapping.offer(kinesis_records(10))
    mapping.tick(closed=True)
    assert recorder.calls[1] == list(range(1004, 1010))
    assert recorder.commits == ["1003", "1009"]


def test_an_identifier_not_in_the_batch_fails_the_whole_batch():
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "42"}]}, None])
    recorder = Recorder(lambda seqs, event: next(answers))
    mapping = recorder.mapping(bisect_on_error=False)
    mapping.offer(kinesis_records(4))
    mapping.tick(closed=True)
    assert recorder.calls == [[1000, 1001, 1002, 1003]] * 2


def test_errors_bisect_until_the_poison_record_is_isolated_then_go_to_the_on_failure_queue():
    def respond(seqs, event):
        if 1005 in seqs:
            raise RuntimeError("poison")

    recorder = Recorder(respond)
    mapping = recorder.mapping(max_retry_attempts=2)
    mapping.offer(kinesis_records(10))
    mapping.tick(closed=True)
    assert [1005] in recorder.calls
    assert len(recorder.failures) == 1
    info = recorder.failures[0]["KinesisBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == "1005" and info["batchSize"] == 1
    assert recorder.failures[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert recorder.commits[-1] == "1009"  # the shard moved on; nothing else was skipped
    delivered = {s for call in recorder.calls for s in call if 1005 not in call}
    assert delivered == set(range(1000, 1010)) - {1005}


def test_partial_failures_count_as_retries_until_the_batch_is_given_up():
    recorder = Recorder(lambda seqs, event: {"batchItemFailures": [{"itemIdentifier": str(seqs[-1])}]})
    mapping = recorder.mapping(max_retry_attempts=2)
    mapping.offer(kinesis_records(5))
    mapping.tick(closed=True)
    # each answer applies all but the last record: 1000-1003 go through, 1004 fails three times
    assert recorder.calls == [[1000, 1001, 1002, 1003, 1004], [1004], [1004]]
    assert [f["KinesisBatchInfo"]["startSequenceNumber"] for f in recorder.failures] == ["1004"]
    assert recorder.commits == ["1003", "1004"]


def test_with_unlimited_retries_a_batch_is_given_up_only_when_its_records_are_too_old():
    # Given a store that stays down, and every failed attempt taking 1,000 s of the wall clock
    def fail(seqs, event):
        recorder.clock.at += 1000
        raise ConnectionError("DynamoDB unreachable")

    recorder = Recorder(fail)
    recorder.clock.at = ARRIVED.timestamp()
    mapping = recorder.mapping(max_retry_attempts=-1, bisect_on_error=False, max_record_age_s=3600)
    # When the batch is delivered
    mapping.offer(kinesis_records(3))
    mapping.tick(closed=True)
    # Then it is retried while its records are younger than an hour, and given up at the first failure after that
    assert len(recorder.calls) == 4
    (failure,) = recorder.failures
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
    assert failure["requestContext"]["approximateInvokeCount"] == 4
    assert failure["timestamp"] == "2026-11-26T01:06:40.000Z"  # the clock when it was given up: 4,000 s on
    assert recorder.commits == ["1002"]
