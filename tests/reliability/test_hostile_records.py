"""Hostile records through the fold and through the nightly job: each is rejected with its reason and counted, the
valid events around them are counted, the shard does not stall and the job does not fail."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from headcount.functions.fold.handler import handler

from headcount import names
from headcount.batch.job import run_job
from headcount.batch.plan import JobOptions
from headcount.local import resources
from headcount.local.esm import LocalLambdaContext, kinesis_event, lambda_arn
from headcount.views.lake import read_counts
from support.hostile_records import ARRIVAL_MS, HOSTILE, TS
from support.raw_lake import write_raw

VALID = [
    json.dumps({"event_id": f"m-{i}", "type": "match_end", "player_id": f"p-{i}", "ts": TS}).encode() for i in range(5)
]
EXPECTED = Counter(reason for _name, _record, reason in HOSTILE)


@pytest.fixture(autouse=True)
def _fresh_runtime():
    from headcount.functions.fold import handler as module

    module.runtime.cache_clear()
    yield
    module.runtime.cache_clear()


def test_the_fold_rejects_each_hostile_record_with_its_reason_and_folds_the_rest(aws, capsys) -> None:
    # Given one batch: the hostile records, an empty record, and five valid matches between them
    records = [record + b"\n" for _name, record, _reason in HOSTILE] + [b""] + [v + b"\n" for v in VALID]
    arrived = datetime.fromtimestamp(ARRIVAL_MS / 1000, UTC)
    event = kinesis_event(
        [
            {"SequenceNumber": str(10**20 + i), "PartitionKey": "p", "ApproximateArrivalTimestamp": arrived, "Data": d}
            for i, d in enumerate(records)
        ],
        "shardId-000000000000",
        resources.stream_arn(),
    )
    # When it is folded, the whole batch is done (nothing to retry: the shard moves on)
    context = LocalLambdaContext(names.FOLD_FUNCTION, "r", lambda_arn(names.FOLD_FUNCTION))
    assert handler(event, context) == {"batchItemFailures": []}
    # Then every rejection is counted under its reason, and the valid matches are in
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    by_reason = {doc["reason"]: doc["EventsRejected"][0] for doc in emf if "reason" in doc}
    assert by_reason == EXPECTED
    folded = next(doc for doc in emf if "EventsFolded" in doc)
    assert folded["EventsFolded"] == [5.0] and folded["EventsRejected"] == [float(len(HOSTILE))]


@pytest.mark.spark
def test_the_nightly_job_tallies_each_hostile_line_and_counts_the_rest(spark, tmp_path: Path) -> None:
    # Given an archive hour holding the hostile lines and five valid matches
    lines = [record for _name, record, _reason in HOSTILE] + VALID
    write_raw(tmp_path, [(line, ARRIVAL_MS) for line in lines])
    day = datetime.fromtimestamp(TS / 1000, UTC).date()
    # When the job runs for that day, it succeeds
    result = run_job(spark, JobOptions(day=day, lake=str(tmp_path), run_id="run-1", days_back=0))
    # Then each hostile line is tallied under its reason, and only the valid matches are counted
    assert result.rejected == dict(EXPECTED)
    counts = {(r["metric"], r["bucket"]): r["value"] for r in read_counts(tmp_path, [day.isoformat()]).to_pylist()}
    assert counts[("matches_played", day.isoformat())] == 5
    assert counts[("active_players", day.isoformat())] == 0
