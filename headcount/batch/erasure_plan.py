"""An erasure batch's plan (headcount/batch/erasure.py), kept in the lake as `erasure/batches/<batch>.json`: what the
batch changes, written before it changes anything, so that a try after a stopped one finishes the same work, and so
that the nightly job keeps reading a rewritten raw object with the arrival bound it had (`written`). No player ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from headcount.core.erasure import Filtered
from headcount.views.lake import data_files, erasure_uri, lake_filesystem


@dataclass
class BatchPlan:
    """What a batch changes, written before it changes anything (a rerun finishes the same work). No player ids."""

    batch: str
    objects: list[str] = field(default_factory=list)  # raw_object_key of each object holding a player's line
    written: dict[str, int] = field(default_factory=dict)  # object -> when it was first written (epoch ms)
    days: list[str] = field(default_factory=list)  # the local days the lines counted in
    # per receipt: {"events": lines removed, "objects": objects holding them, "days": days they counted in}
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the KPI days a try recomputed (before it published them): a try after it writes and publishes them again
    kpi_days: dict[str, list[str]] = field(default_factory=dict)
    # what the tries did to the archive so far: raw objects deleted (left without lines), older versions deleted (a
    # try stopped while rewriting may leave some uncounted)
    raw: dict[str, int] = field(default_factory=dict)

    def add_raw(self, deleted: int, versions: int) -> tuple[int, int, int]:
        """Add a try's figures; -> the batch's so far: (objects rewritten, deleted, versions deleted)."""
        for name, n in (("deleted", deleted), ("versions", versions)):
            self.raw[name] = self.raw.get(name, 0) + n
        return len(self.objects) - self.raw["deleted"], self.raw["deleted"], self.raw["versions"]

    def to_json(self) -> bytes:
        doc = {"batch": self.batch, "objects": self.objects, "written": self.written, "days": self.days}
        more = {"receipts": self.receipts, "kpi_days": self.kpi_days, "raw": self.raw}
        return orjson.dumps({**doc, **more}, option=orjson.OPT_INDENT_2)

    @staticmethod
    def from_json(data: bytes) -> BatchPlan:
        doc = orjson.loads(data)
        return BatchPlan(
            doc["batch"],
            list(doc["objects"]),
            dict(doc["written"]),
            list(doc["days"]),
            dict(doc.get("receipts", {})),
            dict(doc.get("kpi_days", {})),
            dict(doc.get("raw", {})),
        )

    def count(self, receipt_id: str, found: dict[str, Filtered], ids: set[str], days_of: Any) -> None:
        """Add what this try found of a receipt's players, in objects new to the plan, to what earlier tries found."""
        lines = [ts for f in found.values() for pid, ts_list in f.removed.items() if pid in ids for ts in ts_list]
        mine = self.receipts.setdefault(receipt_id, {"events": 0, "objects": 0, "days": []})
        mine["events"] += len(lines)
        mine["objects"] += sum(1 for f in found.values() if ids & f.removed.keys())
        mine["days"] = sorted(set(mine["days"]) | days_of(lines))


def plan_uri(lake: str, batch: str) -> str:
    return f"{erasure_uri(lake)}/batches/{batch}.json"


def read_plans(lake: str) -> list[BatchPlan]:
    fs, _ = lake_filesystem(erasure_uri(lake))
    return [BatchPlan.from_json(read_bytes(fs, path)) for path in data_files(f"{erasure_uri(lake)}/batches", ".json")]


def read_plan(lake: str, batch: str) -> BatchPlan | None:
    """A batch's plan, None before its first try wrote one. Found by listing: on S3 a read of a missing key without
    s3:ListBucket on it (the job's is limited by prefix) is answered 403, not 404."""
    fs, path = lake_filesystem(plan_uri(lake, batch))
    if path not in data_files(f"{erasure_uri(lake)}/batches", ".json"):
        return None
    return BatchPlan.from_json(read_bytes(fs, path))


def read_bytes(fs: Any, path: str) -> bytes:
    with fs.open_input_stream(path, compression=None) as stream:
        return bytes(stream.read())
