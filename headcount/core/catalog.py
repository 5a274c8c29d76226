"""The metric catalog: one file in the repo, read by the fold, the nightly job and the API."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from headcount.core.events import ATTR_KEY_RE, TYPE_RE

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
NO_GROUP = ""  # the group of an ungrouped metric
UNKNOWN_GROUP = "unknown"  # the group of an event without the group_by attribute


class Kind(str, Enum):
    DISTINCT = "distinct"
    COUNT = "count"


class Granularity(str, Enum):
    DAY = "day"
    HOUR = "hour"


class CatalogError(ValueError):
    """The catalog file is not valid."""


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    kind: Kind
    event_type: str
    granularity: Granularity
    field: str | None = None  # the distinct field (only player_id today)
    group_by: str | None = None
    lg_k: int | None = None

    def group_of(self, attrs: dict[str, str]) -> str:
        if self.group_by is None:
            return NO_GROUP
        return attrs.get(self.group_by, UNKNOWN_GROUP)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "event_type": self.event_type,
            "field": self.field,
            "group_by": self.group_by,
            "granularity": self.granularity.value,
        }


class Catalog:
    """The metrics, looked up by name and by event type."""

    def __init__(self, metrics: tuple[Metric, ...]) -> None:
        self.metrics = metrics
        self._by_name = {m.name: m for m in metrics}
        by_type: dict[str, list[Metric]] = {}
        for metric in metrics:
            by_type.setdefault(metric.event_type, []).append(metric)
        self._by_type = {t: tuple(ms) for t, ms in by_type.items()}

    def get(self, name: str) -> Metric | None:
        return self._by_name.get(name)

    def for_event_type(self, event_type: str) -> tuple[Metric, ...]:
        return self._by_type.get(event_type, ())


DEFAULT_LG_K = 14
DEFAULT_GROUPED_LG_K = 12
DISTINCT_FIELDS = ("player_id",)


def parse_catalog(doc: object) -> Catalog:
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), list) or not doc["metrics"]:
        raise CatalogError('the catalog must be an object {"metrics": [...]} with at least one metric')
    metrics = []
    for index, entry in enumerate(doc["metrics"]):
        try:
            metrics.append(_metric(entry))
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"metric #{index}: {exc}") from None
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise CatalogError("metric names must be unique")
    return Catalog(tuple(metrics))


def _metric(entry: dict) -> Metric:
    name = entry["name"]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValueError(f"bad name {name!r}")
    kind = Kind(entry["kind"])
    event_type = entry["event_type"]
    if not isinstance(event_type, str) or not TYPE_RE.fullmatch(event_type):
        raise ValueError(f"bad event_type {event_type!r}")
    group_by = entry.get("group_by")
    if group_by is not None and not ATTR_KEY_RE.fullmatch(group_by):
        raise ValueError(f"bad group_by {group_by!r}")
    field, lg_k = None, None
    if kind is Kind.DISTINCT:
        field = entry.get("field", "player_id")
        if field not in DISTINCT_FIELDS:
            raise ValueError(f"distinct field must be one of {DISTINCT_FIELDS}")
        lg_k = int(entry.get("lg_k", DEFAULT_GROUPED_LG_K if group_by else DEFAULT_LG_K))
        if not 4 <= lg_k <= 21:
            raise ValueError("lg_k must be between 4 and 21")
    return Metric(name, kind, event_type, Granularity(entry.get("granularity", "day")), field, group_by, lg_k)
