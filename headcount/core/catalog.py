"""The metric catalog: one file in the repo, read by the fold, the nightly job and the API."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import Enum

from headcount.core.events import ATTR_KEY_RE, TYPE_RE

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Every distinct and count metric has a sub-day twin, `<name>~quarter`, kept by both layers like any metric but in
# quarter hours of the reporting zone: every UTC offset in use is a multiple of 15 minutes, so any zone's day or hour is
# a whole number of them (headcount/logic/zones.py answers other zones from them). A new-players metric has one too,
# kept by the fold only: a Theta sketch of each quarter hour's players, of which another zone's new players and
# retention are estimated for as long as the real-time layer keeps them (zone_kpis.py). Not listed: a storage detail. The
# catalog's `"sub_day"` chooses them: "quarter" (the default), "hour" (whole-hour zones only: a quarter of the items)
# or "off" (the reporting zone's days only); bench/zones.py measures what each costs.
SUB_DAY_GRANULARITIES = {"quarter": "quarter", "hour": "hour", "off": None}
# The extra zones the nightly job computes exactly (HEADCOUNT_EXTRA_ZONES, `headcount:extraZones`) each have a copy of
# the catalog's metrics, `<name>@<zone>` (`active_players@Asia.Tokyo`: `zone_token`), whose days are that zone's: the
# job's counts, KPI and players tables and the batch view hold them like any metric (`Catalog.in_zone`). Not listed.
ZONE_MARK = "@"
NO_GROUP = ""  # the group of an ungrouped metric
UNKNOWN_GROUP = "unknown"  # the group of an event without the group_by attribute


class Kind(str, Enum):
    DISTINCT = "distinct"  # distinct players of an event type per bucket (HLL in real time)
    COUNT = "count"  # events of a type per bucket
    # The game KPIs, built on a daily distinct metric (`of`):
    ROLLING = "rolling"  # distinct players over the `window_days` days ending at each day
    RATIO = "ratio"  # one metric over another, per day
    NEW = "new"  # players whose first qualifying event ever falls on the day (Theta in real time)
    RETENTION = "retention"  # of a `new` metric's cohort of day D, how many were active on D+k

    @property
    def folded(self) -> bool:
        """The fold keeps real-time items of it (the others are computed from those at read time)."""
        return self in (Kind.DISTINCT, Kind.COUNT, Kind.NEW)

    @property
    def sketched(self) -> bool:
        """Its real-time items hold a sketch of player ids (HLL for distinct, Theta for new)."""
        return self in (Kind.DISTINCT, Kind.NEW)

    @property
    def counted(self) -> bool:
        """The nightly job's counts table holds it (the KPI kinds have their own table)."""
        return self in (Kind.DISTINCT, Kind.COUNT)


class Granularity(str, Enum):
    DAY = "day"
    HOUR = "hour"
    QUARTER = "quarter"  # the sub-day twins' (catalog.py `sub_day`): a catalog's own metrics are daily or hourly


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
    lg_k: int | None = None  # HLL lg_k of a distinct metric (and of a rolling one's base); Theta lg_k of new/retention
    of: str | None = None  # rolling, new: the daily distinct metric it counts; retention: its `new` metric
    window_days: int | None = None  # rolling: the window, ending at each day
    numerator: str | None = None  # ratio
    denominator: str | None = None  # ratio
    returned_after: tuple[int, ...] = ()  # retention: the k of "active on D+k", ascending
    sub_day_of: str | None = None  # a sub-day twin: the metric it keeps in quarter hours

    def group_of(self, attrs: dict[str, str]) -> str:
        if self.group_by is None:
            return NO_GROUP
        return attrs.get(self.group_by, UNKNOWN_GROUP)

    def describe(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "name": self.name,
            "kind": self.kind.value,
            "event_type": self.event_type,
            "field": self.field,
            "group_by": self.group_by,
            "granularity": self.granularity.value,
        }
        extra = {
            "of": self.of,
            "window_days": self.window_days,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "returned_after": list(self.returned_after) or None,
        }
        return doc | {k: v for k, v in extra.items() if v is not None}


class Catalog:
    """The metrics, looked up by name and by event type."""

    def __init__(self, metrics: tuple[Metric, ...]) -> None:
        self.metrics = metrics
        self._by_name = {m.name: m for m in metrics}
        folded: dict[str, list[Metric]] = {}
        for metric in metrics:
            if metric.kind.folded:
                folded.setdefault(metric.event_type, []).append(metric)
        self._by_type = {t: tuple(ms) for t, ms in folded.items()}
        self._counted = {t: tuple(m for m in ms if m.kind.counted) for t, ms in self._by_type.items()}
        self._twins = {m.sub_day_of: m for m in metrics if m.sub_day_of is not None}

    def get(self, name: str) -> Metric | None:
        return self._by_name.get(name)

    def listed(self) -> tuple[Metric, ...]:
        """The metrics as the API lists them: the catalog file's, without the sub-day twins."""
        return tuple(m for m in self.metrics if m.sub_day_of is None)

    def in_zone(self, zone: str) -> Catalog:
        """The listed metrics as the nightly job computes them in an extra zone: each renamed `in_zone_name`, the
        metrics it is built on too, without sub-day twins."""

        def rename(name: str | None) -> str | None:
            return None if name is None else in_zone_name(name, zone)

        return Catalog(
            tuple(
                replace(
                    m,
                    name=in_zone_name(m.name, zone),
                    of=rename(m.of),
                    numerator=rename(m.numerator),
                    denominator=rename(m.denominator),
                )
                for m in self.listed()
            )
        )

    def sub_day(self, metric: Metric) -> Metric | None:
        """The sub-day twin of a distinct, count or new metric (None for the other KPIs, or a catalog without
        twins)."""
        return self._twins.get(metric.name)

    def for_event_type(self, event_type: str) -> tuple[Metric, ...]:
        """The metrics the fold keeps items of for events of this type (distinct, count and new)."""
        return self._by_type.get(event_type, ())

    def counted_for(self, event_type: str) -> tuple[Metric, ...]:
        """The metrics of the counts table an event of this type counts in (distinct and count)."""
        return self._counted.get(event_type, ())

    def kpis(self) -> tuple[Metric, ...]:
        """The KPI metrics (rolling, ratio, new, retention), in catalog order; not a new metric's sub-day twin (the
        fold's only)."""
        return tuple(m for m in self.metrics if not m.kind.counted and m.sub_day_of is None)

    def stored_kpis(self) -> tuple[Metric, ...]:
        """The KPI metrics the nightly job writes rows of (rolling, new, retention; a ratio has none: the serving layer
        divides), in catalog order: the `kpis` table's metrics."""
        return tuple(m for m in self.kpis() if m.kind is not Kind.RATIO)

    def new_metrics(self) -> tuple[Metric, ...]:
        """The new-players metrics, in catalog order: one `players` table each."""
        return tuple(m for m in self.kpis() if m.kind is Kind.NEW)

    def activity_metrics(self) -> tuple[Metric, ...]:
        """The daily distinct metrics a rolling, new or retention metric is built on, each once, in catalog order: the
        `activity` table's metrics."""
        bases = {self.base(m).name for m in self.stored_kpis()}
        return tuple(m for m in self.metrics if m.name in bases)

    def base(self, metric: Metric) -> Metric:
        """The daily distinct metric a rolling or new metric counts, or a retention metric's through its new one."""
        while metric.kind is not Kind.DISTINCT:
            if metric.of is None:
                raise ValueError(f"{metric.name} is a {metric.kind.value} metric: it has no base")
            metric = self._by_name[metric.of]
        return metric


def zone_token(zone: str) -> str:
    """An IANA zone name as a metric name's suffix, a partition folder and a key (no `/`, no `+`): `Asia.Tokyo`,
    `Etc.GMTplus5`."""
    return zone.replace("/", ".").replace("+", "plus")


def in_zone_name(name: str, zone: str) -> str:
    """The name of a metric's copy in an extra zone: `active_players@Asia.Tokyo`."""
    return f"{name}{ZONE_MARK}{zone_token(zone)}"


DEFAULT_LG_K = 14
DEFAULT_GROUPED_LG_K = 12
DEFAULT_THETA_LG_K = 12  # a compact Theta sketch keeps up to 2^lg_k hashes of 8 bytes: 32 KiB at 12
MAX_THETA_LG_K = 14  # 128 KiB: a DynamoDB item holds 400 KB
MAX_WINDOW_DAYS = 90
MAX_RETURNED_AFTER = 400
DISTINCT_FIELDS = ("player_id",)


def parse_catalog(doc: object) -> Catalog:
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), list) or not doc["metrics"]:
        raise CatalogError('the catalog must be an object {"metrics": [...]} with at least one metric')
    sub_day = doc.get("sub_day", "quarter")
    if sub_day not in SUB_DAY_GRANULARITIES:
        raise CatalogError(f"sub_day is {', '.join(map(repr, SUB_DAY_GRANULARITIES))}, not {sub_day!r}")
    metrics = []
    for index, entry in enumerate(doc["metrics"]):
        try:
            metrics.append(_metric(entry))
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"metric #{index}: {exc}") from None
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise CatalogError("metric names must be unique")
    by_name = {m.name: m for m in metrics}
    resolved: list[Metric] = []
    for index, metric in enumerate(metrics):
        try:
            resolved.append(_resolve(metric, by_name))
        except ValueError as exc:
            raise CatalogError(f"metric #{index} ({metric.name}): {exc}") from None
    granularity = SUB_DAY_GRANULARITIES[sub_day]
    twins = sub_day_metrics(resolved, Granularity(granularity)) if granularity else ()
    return Catalog(tuple(resolved) + twins)


def sub_day_metrics(metrics: list[Metric], granularity: Granularity = Granularity.QUARTER) -> tuple[Metric, ...]:
    """The sub-day twin of each distinct, count and new metric: the same events, players and groups, in quarter hours
    (or hours), named `<name>~quarter` (`<name>~hour`)."""
    return tuple(
        replace(m, name=f"{m.name}~{granularity.value}", granularity=granularity, sub_day_of=m.name)
        for m in metrics
        if m.kind.folded
    )


def _resolve(metric: Metric, by_name: dict[str, Metric]) -> Metric:
    """A KPI metric with what it inherits from the metrics it is built on (event type, groups, lg_k)."""

    def ref(name: str | None, what: str, kinds: tuple[Kind, ...]) -> Metric:
        found = by_name.get(name or "")
        if found is None:
            raise ValueError(f"{what} {name!r} is not a metric of the catalog")
        if found.kind not in kinds:
            raise ValueError(
                f"{what} {name!r} is a {found.kind.value} metric, not {' or '.join(k.value for k in kinds)}"
            )
        if found.kind is Kind.DISTINCT and found.granularity is not Granularity.DAY:
            raise ValueError(f"{what} {name!r} must be a daily metric")
        return found

    kind = metric.kind
    if kind in (Kind.ROLLING, Kind.NEW):
        base = ref(metric.of, "of", (Kind.DISTINCT,))
        lg_k = base.lg_k if kind is Kind.ROLLING else metric.lg_k
        return replace(metric, event_type=base.event_type, field=base.field, group_by=base.group_by, lg_k=lg_k)
    if kind is Kind.RETENTION:
        new = ref(metric.of, "of", (Kind.NEW,))
        new = _resolve(new, by_name)
        return replace(metric, event_type=new.event_type, field=new.field, group_by=new.group_by, lg_k=new.lg_k)
    if kind is Kind.RATIO:
        parts = (Kind.DISTINCT, Kind.COUNT, Kind.ROLLING, Kind.NEW)
        numerator = ref(metric.numerator, "numerator", parts)
        denominator = ref(metric.denominator, "denominator", parts)
        for part in (numerator, denominator):
            if part.granularity is not Granularity.DAY:
                raise ValueError(f"{part.name} must be a daily metric")
        numerator, denominator = _resolve(numerator, by_name), _resolve(denominator, by_name)
        if denominator.group_by not in (None, numerator.group_by):
            raise ValueError("the denominator must be ungrouped or grouped by the numerator's attribute")
        return replace(metric, event_type=numerator.event_type, group_by=numerator.group_by)
    return metric


def _metric(entry: dict) -> Metric:
    name = entry["name"]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValueError(f"bad name {name!r}")
    kind = Kind(entry["kind"])
    if not kind.counted:
        return _kpi(name, kind, entry)
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
    granularity = Granularity(entry.get("granularity", "day"))
    if granularity is Granularity.QUARTER:
        raise ValueError("granularity is day or hour (every metric is also kept in quarter hours: any zone's days)")
    return Metric(name, kind, event_type, granularity, field, group_by, lg_k)


def _kpi(name: str, kind: Kind, entry: dict) -> Metric:
    """A KPI metric as declared; `_resolve` fills in what it inherits once every metric is known."""
    if entry.get("granularity", "day") != "day":
        raise ValueError(f"a {kind.value} metric is daily")
    for key in ("event_type", "group_by", "field"):
        if key in entry:
            raise ValueError(f"a {kind.value} metric takes its {key} from the metric it is built on")
    placeholder = "session_start"  # replaced by the base's event type in _resolve
    if kind is Kind.RATIO:
        numerator, denominator = entry["numerator"], entry["denominator"]
        if not isinstance(numerator, str) or not isinstance(denominator, str):
            raise ValueError("numerator and denominator are metric names")
        return Metric(name, kind, placeholder, Granularity.DAY, numerator=numerator, denominator=denominator)
    of = entry["of"]
    if not isinstance(of, str):
        raise ValueError("of is a metric name")
    if kind is Kind.ROLLING:
        window = entry["window_days"]
        if not isinstance(window, int) or isinstance(window, bool) or not 2 <= window <= MAX_WINDOW_DAYS:
            raise ValueError(f"window_days must be an integer from 2 to {MAX_WINDOW_DAYS}")
        return Metric(name, kind, placeholder, Granularity.DAY, of=of, window_days=window)
    if kind is Kind.NEW:
        lg_k = entry.get("lg_k", DEFAULT_THETA_LG_K)
        if not isinstance(lg_k, int) or isinstance(lg_k, bool) or not 5 <= lg_k <= MAX_THETA_LG_K:
            raise ValueError(f"a new metric's (Theta) lg_k must be from 5 to {MAX_THETA_LG_K}")
        return Metric(name, kind, placeholder, Granularity.DAY, of=of, lg_k=lg_k)
    returned = entry.get("returned_after", [1, 7, 30])
    if (
        not isinstance(returned, list)
        or not returned
        or any(not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_RETURNED_AFTER for k in returned)
        or len(set(returned)) != len(returned)
    ):
        raise ValueError(f"returned_after must be distinct integers from 1 to {MAX_RETURNED_AFTER}")
    return Metric(name, kind, placeholder, Granularity.DAY, of=of, returned_after=tuple(sorted(returned)))
