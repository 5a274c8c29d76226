"""The headcount stack: one construct per layer, wired together. Names come from headcount/names.py, shared with the
local runtime."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from aws_cdk import Stack
from constructs import Construct

from infra.alarms import Alarms
from infra.batch import Batch
from infra.ingest import Ingest
from infra.realtime import Realtime
from infra.serving import Serving

# Context keys (cdk.json, or `-c key=value`).
TZ_CONTEXT = "headcount:tz"  # the reporting time zone: day and hour buckets, and when "yesterday" is
NIGHTLY_AT_CONTEXT = "headcount:nightlyAt"  # HH:MM in the reporting time zone
API_KEY_VERSION_CONTEXT = "headcount:apiKeyVersion"  # a VersionId of the API key secret, to make a deploy re-read it


class HeadcountStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        tz = str(self.node.try_get_context(TZ_CONTEXT) or "UTC")
        ZoneInfo(tz)  # an unknown zone fails the synth, not the first invocation
        nightly_at = str(self.node.try_get_context(NIGHTLY_AT_CONTEXT) or "02:00")
        api_key_version = self.node.try_get_context(API_KEY_VERSION_CONTEXT)

        self.ingest = Ingest(self, "Ingest")
        self.realtime = Realtime(self, "Realtime", stream=self.ingest.stream, tz=tz)
        self.batch = Batch(self, "Batch", lake=self.ingest.lake, tz=tz, nightly_at=nightly_at)
        self.serving = Serving(
            self,
            "Serving",
            realtime_table=self.realtime.table,
            batch_table=self.batch.table,
            stream=self.ingest.stream,
            tz=tz,
            api_key_version=str(api_key_version) if api_key_version else None,
        )
        self.alarms = Alarms(
            self,
            "Alarms",
            fold=self.realtime.function,
            on_failure_queue=self.realtime.on_failure_queue,
            api=self.serving.api,
            job=self.batch.job,
        )
