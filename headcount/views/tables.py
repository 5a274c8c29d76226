"""The lake's tables for SQL: `raw` (the archive, one record per row), `counts` (the nightly job's output), and the
KPIs' `activity`, `players` and `kpis` (the nightly job's too).

One small interface, two engines: DuckDB views over the local files, Athena over the Glue Data Catalog on AWS. The
tables are defined in headcount/core/lake_tables.py; their columns, as the DuckDB views list them:
- raw: line (the record's text), dt (arrival day, UTC), hr (arrival hour, 00-23)
- counts: metric, bucket, group_value, value, sketch, run_id, day
- activity: metric, day, group_value, player_id, first_ts_ms
- players: metric, player_id, first_day, group_value
- kpis: metric, day, bucket, group_value, value, sketch, run_id
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from headcount import names
from headcount.core.lake_tables import (
    ACTIVITY,
    COUNTS,
    KPIS,
    PLAYERS,
    PROJECTION_FIRST_DAY,
    RAW,
    SYMLINK_INPUT_FORMAT,
    LakeTable,
    zone_table,
)
from headcount.views.aws import client
from headcount.views.lake import (
    activity_uri,
    counts_uri,
    data_files,
    hour_of_path,
    is_s3,
    kpis_uri,
    lake_filesystem,
    players_manifest_uri,
    players_uri,
    raw_uri,
    read_players_manifest,
    zone_lake,
)

if TYPE_CHECKING:
    from headcount.core.catalog import Catalog

# The tables' Hive types as DuckDB's
DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "binary": "BLOB"}


def _duckdb_types(columns: Mapping[str, str]) -> dict[str, str]:
    return {name: DUCKDB_TYPES[kind] for name, kind in columns.items()}


def _duckdb_struct(columns: Mapping[str, str]) -> str:
    """Columns (with DuckDB's types) as a struct literal of their names and types: `{'a': 'VARCHAR', ...}`."""
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"


# One line of a gzip JSON-lines file per row, as text: no quoting, no header, no comment lines; lines that are not UTF-8
# (never valid JSON) are skipped by `ignore_errors`.
RAW_CSV_OPTIONS = (
    "auto_detect = false, delim = '\\x01', quote = '', escape = '', comment = '', header = false, "
    f"columns = {_duckdb_struct(_duckdb_types(RAW.columns))}, compression = 'gzip', new_line = '\\n', strict_mode = false, "
    f"ignore_errors = true, hive_partitioning = true, hive_types = {_duckdb_struct(_duckdb_types(RAW.partitions))}"
)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class Tables(Protocol):
    def sql(self, query: str) -> QueryResult: ...


class DuckDBTables:
    """DuckDB views over the lake's data files (`raw/dt=*/hr=*/*.gz`, the nightly job's Parquet tables, the players
    tables' current versions), listed at every query, so new files show up (a table without files yet is an empty
    view). The lake is a folder or S3 (read through pyarrow: DuckDB's own S3 extension is a download away)."""

    def __init__(self, lake: str | Path, extra_zones: Sequence[str] = ()) -> None:
        """`extra_zones`: their tables too, each named `zone_table` (`counts_asia_tokyo`)."""
        import duckdb

        self.lake, self.extra_zones = str(lake), tuple(extra_zones)
        self.con = duckdb.connect()
        if is_s3(self.lake):
            self.con.register_filesystem(_lake_file_system_class()(lake_filesystem(self.lake)[0]))

    def sql(self, query: str) -> QueryResult:
        self._views()
        cursor = self.con.execute(query)
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return QueryResult(columns, cursor.fetchall() if columns else [])

    def _views(self) -> None:
        raw_files = [self._uri(f) for f in data_files(raw_uri(self.lake), ".gz") if hour_of_path(f) is not None]
        if raw_files:
            raw = f"SELECT coalesce(line, '') AS line, dt, hr FROM read_csv({_sql_list(raw_files)}, {RAW_CSV_OPTIONS})"  # noqa: S608
        else:
            raw = _no_rows(_duckdb_types({**RAW.columns, **RAW.partitions}))
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {names.RAW_TABLE} AS {raw}")
        tables = _parquet_tables(self.lake)
        for zone in self.extra_zones:
            tables |= {zone_table(t, zone): spec for t, spec in _parquet_tables(zone_lake(self.lake, zone)).items()}
        for table, (files, columns, partitions) in tables.items():
            view = _parquet_view([self._uri(f) for f in files], columns, partitions)
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS {view}")

    def _uri(self, path: str) -> str:
        return f"{_LAKE_PROTOCOL}://{path}" if is_s3(self.lake) else path


def _parquet_tables(lake: str) -> dict[str, tuple[list[str], dict[str, str], dict[str, str]]]:
    """The nightly job's tables: their data files (of `lake_filesystem(lake)`; the players tables' current versions),
    their columns in the order the views list them (`counts` its partition key last, the KPI tables theirs first) and
    their partition keys, with DuckDB's types."""

    def table(files: list[str], lake_table: LakeTable, partitions_first: bool) -> tuple:
        columns, partitions = _duckdb_types(lake_table.columns), _duckdb_types(lake_table.partitions)
        return files, {**partitions, **columns} if partitions_first else {**columns, **partitions}, partitions

    manifests = players_manifest_uri(lake)
    metrics = [m.rsplit("/", 2)[-2].removeprefix("metric=") for m in data_files(manifests, "/manifest")]
    players = [lake_filesystem(uri)[1] for metric in metrics for uri in read_players_manifest(lake, metric) or []]
    return {
        names.COUNTS_TABLE: table(data_files(counts_uri(lake), ".parquet"), COUNTS, partitions_first=False),
        names.ACTIVITY_TABLE: table(data_files(activity_uri(lake), ".parquet"), ACTIVITY, partitions_first=True),
        names.PLAYERS_TABLE: table(players, PLAYERS, partitions_first=True),
        names.KPIS_TABLE: table(data_files(kpis_uri(lake), ".parquet"), KPIS, partitions_first=True),
    }


def _parquet_view(files: list[str], columns: dict[str, str], partitions: dict[str, str]) -> str:
    """A hive-partitioned Parquet table's rows, or none with the same columns before the job first wrote it."""
    if not files:
        return _no_rows(columns)
    source = f"read_parquet({_sql_list(files)}, hive_partitioning = true, hive_types = {_duckdb_struct(partitions)})"
    return f"SELECT {', '.join(columns)} FROM {source}"  # noqa: S608 - quoted file names, our own column names


def _sql_list(texts: list[str]) -> str:
    return "[" + ", ".join(sql_string(t) for t in texts) + "]"


_LAKE_PROTOCOL = "headcount-lake"


def _lake_file_system_class() -> type:
    from fsspec.implementations.arrow import ArrowFSWrapper

    class LakeFileSystem(ArrowFSWrapper):
        """pyarrow's S3 as a file system for DuckDB, under a protocol of its own: `s3://` would make DuckDB load its S3
        extension, which it downloads."""

        protocol = _LAKE_PROTOCOL

        @classmethod
        def _strip_protocol(cls, path: str) -> str:
            return path.removeprefix(f"{_LAKE_PROTOCOL}://").rstrip("/")

    return LakeFileSystem


def _no_rows(columns: dict[str, str]) -> str:
    """No rows, with these columns (and DuckDB types)."""
    nulls = ", ".join(f"NULL::{kind} AS {name}" for name, kind in columns.items())
    return f"SELECT {nulls} WHERE false"  # noqa: S608 - our own column names


class AthenaTables:
    """Athena over the Glue Data Catalog tables `raw`, `counts`, `activity`, `players` and `kpis` of `database`, through
    awswrangler.

    `register()` creates (or replaces) the tables over the lake with partition projection, so new days need no
    crawler or MSCK REPAIR; the CDK stack may create the same tables instead. Untested here: no Athena emulator.
    """

    def __init__(self, database: str = names.GLUE_DATABASE, workgroup: str = names.ATHENA_WORKGROUP) -> None:
        self.database, self.workgroup = database, workgroup

    def sql(self, query: str) -> QueryResult:
        import awswrangler as wr

        frame = wr.athena.read_sql_query(query, database=self.database, workgroup=self.workgroup, ctas_approach=False)
        return QueryResult(
            [str(c) for c in frame.columns],
            [tuple(None if _missing(v) else v for v in row) for row in frame.itertuples(index=False)],
        )

    def register(self, lake: str, first_day: str = PROJECTION_FIRST_DAY, catalog: Catalog | None = None) -> None:
        """The tables over `lake` (s3://bucket/prefix), for an account where the stack did not create them. The KPI
        tables' metric partitions are `catalog`'s (the packaged catalog by default, as the stack's); a KPI table that no
        metric of it writes is dropped instead (an enum projection needs a value)."""
        import awswrangler as wr

        from headcount.views.catalog_file import load_catalog

        if not lake.startswith("s3://"):
            raise ValueError(f"Athena reads S3, not {lake!r}")
        lake = lake.rstrip("/")

        wr.catalog.create_database(self.database, exist_ok=True)
        wr.catalog.create_csv_table(
            database=self.database,
            table=names.RAW_TABLE,
            path=f"{lake}/raw/",
            columns_types=dict(RAW.columns),
            partitions_types=dict(RAW.partitions),
            compression="gzip",
            sep="\u0001",
            mode="overwrite",
            **_projection(RAW.projection(first_day=first_day)),
        )
        catalog = catalog if catalog is not None else load_catalog()
        for table, path, lake_table in (
            (names.COUNTS_TABLE, f"{lake}/counts/", COUNTS),
            (names.ACTIVITY_TABLE, f"{activity_uri(lake)}/", ACTIVITY),
            (names.PLAYERS_TABLE, f"{players_uri(lake)}/", PLAYERS),
            (names.KPIS_TABLE, f"{kpis_uri(lake)}/", KPIS),
        ):
            self._parquet_table(table, path, lake_table, catalog, first_day)

    def _parquet_table(self, table: str, path: str, lake_table: LakeTable, catalog: Catalog, first_day: str) -> None:
        """A table of the job's Parquet files (snappy) at `path`, or none (dropped if there) when no metric of the
        catalog writes it."""
        import awswrangler as wr

        if not lake_table.defined_for(catalog):
            wr.catalog.delete_table_if_exists(database=self.database, table=table)
            return
        wr.catalog.create_parquet_table(
            database=self.database,
            table=table,
            path=f"{path}_manifests/" if lake_table.manifests else path,
            columns_types=dict(lake_table.columns),
            partitions_types=dict(lake_table.partitions),
            compression="snappy",
            mode="overwrite",
            **_projection(lake_table.projection(catalog, first_day)),
        )
        if lake_table.manifests:  # a symlink table: its manifests name the files of the current version
            glue = client("glue")
            found = glue.get_table(DatabaseName=self.database, Name=table)["Table"]
            found["StorageDescriptor"]["InputFormat"] = SYMLINK_INPUT_FORMAT
            keys = ("Name", "Description", "StorageDescriptor", "PartitionKeys", "TableType", "Parameters")
            glue.update_table(DatabaseName=self.database, TableInput={k: found[k] for k in keys if k in found})


def _projection(parameters: dict[str, str]) -> dict[str, Any]:
    """The stack's projection parameters as awswrangler's arguments: it turns projection off unless it is also given
    projection settings, so it gets the column types too (the same values; the rest comes from `parameters`)."""
    types = {key.split(".")[1]: value for key, value in parameters.items() if key.endswith(".type")}
    return {"parameters": parameters, "athena_partition_projection_settings": {"projection_types": types}}


def sql_string(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _missing(value: object) -> bool:
    try:
        return bool(value != value)  # NaN / NA
    except (TypeError, ValueError):
        return False


def format_table(result: QueryResult, max_width: int = 60) -> str:
    """An aligned text table, as `headcount sql` prints it."""

    def cell(value: object) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bytes | bytearray | memoryview):
            return f"<{len(bytes(value))} bytes>"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value}"
        text = str(value)
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    if not result.columns:
        return "(no result set)"
    body = [[cell(v) for v in row] for row in result.rows]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(result.columns)]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in result.rows) and bool(result.rows)
        for i in range(len(result.columns))
    ]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    out = [line(list(result.columns)), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in body]
    out.append(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''})")
    return "\n".join(r.rstrip() for r in out)
