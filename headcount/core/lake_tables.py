"""The lake's tables, defined once: `raw` (the archive), `counts` (the nightly job's), and the KPIs' `activity`,
`players` and `kpis` (the nightly job's too). Their columns and types, their partition keys, and the Athena partition
projection of each, read by the job's Spark reads and writes (headcount/batch/), the Glue Data Catalog tables (the
stack's, infra/batch.py, and `AthenaTables.register`), the local DuckDB views (headcount/views/tables.py) and the
publisher (headcount/logic/publishing.py). Their folders in the lake are headcount/views/lake.py's; their Glue table names
headcount/names.py's.

Types are Hive's (the Glue Data Catalog's); Spark's DDL reads the same names. The partition keys are in the folder names
(`metric=<m>/day=<D>/`, Hive's layout), never in the files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from headcount.core.catalog import Catalog, Metric, zone_token

# Athena partition projection (Glue table parameters): new days and hours need no crawler or MSCK REPAIR.
PROJECTION_FIRST_DAY = "2024-01-01"  # the first partition Athena's projection considers


def spark_ddl(columns: Mapping[str, str]) -> str:
    """Columns as Spark's DDL: `name type, name type`."""
    return ", ".join(f"{name} {kind}" for name, kind in columns.items())


@dataclass(frozen=True)
class LakeTable:
    columns: Mapping[str, str]  # the files' columns, in their order: name -> Hive type
    partitions: Mapping[str, str]  # the partition keys, in the folders' order: name -> Hive type
    # A KPI table: the catalog's metrics that write it, its `metric` partitions
    written_by: Callable[[Catalog], tuple[Metric, ...]] | None = None
    # Read through manifests (Athena's symlink tables): each partition's folder under `_manifests/` holds a manifest
    # naming the data files of its current version (headcount/views/lake.py), never a folder of data files.
    manifests: bool = False

    @property
    def ddl(self) -> str:
        """The files' columns as Spark's DDL."""
        return spark_ddl(self.columns)

    @property
    def partitions_ddl(self) -> str:
        """The partition keys as Spark's DDL."""
        return spark_ddl(self.partitions)

    def metrics(self, catalog: Catalog) -> list[str]:
        """The values of the `metric` partition key: the catalog's metrics that write the table, in catalog order."""
        return [m.name for m in self.written_by(catalog)] if self.written_by is not None else []

    def defined_for(self, catalog: Catalog) -> bool:
        """Whether the table exists for this catalog. The KPI tables' `metric` partitions are an enum of the catalog's
        metrics that write them (a metric added to the catalog needs the tables defined again: a deploy, or
        AthenaTables.register); a table no metric writes is not defined (an Athena enum projection needs a value)."""
        return self.written_by is None or bool(self.metrics(catalog))

    def projection(self, catalog: Catalog | None = None, first_day: str = PROJECTION_FIRST_DAY) -> dict[str, str]:
        """Athena's partition projection of the table (the catalog's, for a KPI table's `metric` key)."""
        projection = {"projection.enabled": "true"}
        for key in self.partitions:
            projection |= self._key_projection(key, catalog, first_day)
        return projection

    def _key_projection(self, key: str, catalog: Catalog | None, first_day: str) -> dict[str, str]:
        if key == "metric":
            if catalog is None:
                raise ValueError("a KPI table's projection enumerates the catalog's metrics: pass the catalog")
            metrics = self.metrics(catalog)
            if not metrics:
                raise ValueError("no metric writes this table: an Athena enum projection needs at least one value")
            return {"projection.metric.type": "enum", "projection.metric.values": ",".join(metrics)}
        if key == "hr":
            return {"projection.hr.type": "integer", "projection.hr.range": "0,23", "projection.hr.digits": "2"}
        # dt is the arrival day in UTC: never after today. day is a day of the reporting zone, which can be a day ahead
        # of UTC's.
        last = {"dt": "NOW", "day": "NOW+1DAYS"}[key]
        return {
            f"projection.{key}.type": "date",
            f"projection.{key}.range": f"{first_day},{last}",
            f"projection.{key}.format": "yyyy-MM-dd",
        }


# raw/dt=YYYY-MM-DD/hr=HH/*.gz: one row per archived line, by arrival day and hour (UTC)
RAW = LakeTable(columns={"line": "string"}, partitions={"dt": "string", "hr": "string"})
# counts/day=D/: the exact value of each (metric, bucket, group) of a day of the reporting zone, and its sketch
COUNTS = LakeTable(
    columns={
        "metric": "string",
        "bucket": "string",
        "group_value": "string",
        "value": "bigint",
        "sketch": "binary",
        "run_id": "string",
    },
    partitions={"day": "string"},
)
# activity/metric=<m>/day=<D>/: each player of the day and group of a daily distinct metric a KPI is built on
ACTIVITY = LakeTable(
    columns={"group_value": "string", "player_id": "string", "first_ts_ms": "bigint"},
    partitions={"metric": "string", "day": "string"},
    written_by=Catalog.activity_metrics,
)
# players/metric=<m>/version=<v>/: each player's first day and group, of a new-players metric, rewritten whole each
# run as a new version; players/_manifests/metric=<m>/manifest names the current one's files
PLAYERS = LakeTable(
    columns={"player_id": "string", "first_day": "string", "group_value": "string"},
    partitions={"metric": "string"},
    written_by=Catalog.new_metrics,
    manifests=True,
)
# Hive's input format of a table read through manifests (Athena's symlink tables): the files a manifest names are
# read with the table's SerDe (Parquet's here).
SYMLINK_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
# kpis/metric=<m>/day=<D>/: the rows of the rolling, new and retention metrics (a ratio has none: the serving layer
# divides)
KPIS = LakeTable(
    columns={
        "bucket": "string",
        "group_value": "string",
        "value": "bigint",
        "sketch": "binary",
        "run_id": "string",
    },
    partitions={"metric": "string", "day": "string"},
    written_by=Catalog.stored_kpis,
)


def zone_table(table: str, zone: str) -> str:
    """An extra zone's copy of a table, for SQL (Athena, `headcount sql`): `counts_asia_tokyo`, over zones/Asia.Tokyo/."""
    return f"{table}_{re.sub(r'[^a-z0-9]+', '_', zone_token(zone).lower())}"
