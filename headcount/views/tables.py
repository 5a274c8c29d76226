"""The lake's tables for SQL: `raw` (the archive, one record per row), `counts` (the nightly job's output), and the
KPIs' `activity`, `players` and `kpis` (the nightly job's too).

One small interface, two engines: DuckDB views over the local files, Athena over the Glue Data Catalog on AWS.
- raw: line (the record's text), dt (arrival day, UTC), hr (arrival hour, 00-23)
- counts: metric, bucket, group_value, value, sketch, run_id, day
- activity: metric, day, group_value, player_id, first_ts_ms
- players: metric, player_id, first_day, group_value
- kpis: metric, day, bucket, group_value, value, sketch, run_id
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from headcount import names
from headcount.views.lake import RAW_FILES_GLOB, activity_uri, kpis_uri, players_uri, raw_uri

if TYPE_CHECKING:
    from headcount.core.catalog import Catalog

# One line of a gzip JSON-lines file per row, as text: no quoting, no header, no comment lines; lines that are not UTF-8
# (never valid JSON) are skipped by `ignore_errors`.
RAW_CSV_OPTIONS = (
    "auto_detect = false, delim = '\\x01', quote = '', escape = '', comment = '', header = false, "
    "columns = {'line': 'VARCHAR'}, compression = 'gzip', new_line = '\\n', strict_mode = false, "
    "ignore_errors = true, hive_partitioning = true, hive_types = {'dt': 'VARCHAR', 'hr': 'VARCHAR'}"
)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class Tables(Protocol):
    def sql(self, query: str) -> QueryResult: ...


class DuckDBTables:
    """DuckDB views over `{lake}/raw/dt=*/hr=*/*.gz`, `{lake}/counts/day=*/*.parquet` and the KPI tables' Parquet files
    (read at query time, so new files show up; a table without files yet is an empty view)."""

    def __init__(self, lake_dir: str | Path) -> None:
        import duckdb

        self.lake_dir = Path(lake_dir)
        self.con = duckdb.connect()

    def sql(self, query: str) -> QueryResult:
        self._views()
        cursor = self.con.execute(query)
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return QueryResult(columns, cursor.fetchall() if columns else [])

    def _views(self) -> None:
        raw_glob = f"{raw_uri(self.lake_dir)}/{RAW_FILES_GLOB}"
        counts_glob = str(self.lake_dir / "counts" / "day=*" / "*.parquet")
        if glob.glob(raw_glob):
            raw = f"SELECT coalesce(line, '') AS line, dt, hr FROM read_csv({sql_string(raw_glob)}, {RAW_CSV_OPTIONS})"  # noqa: S608
        else:
            raw = "SELECT NULL::VARCHAR AS line, NULL::VARCHAR AS dt, NULL::VARCHAR AS hr WHERE false"
        if glob.glob(counts_glob):
            source = (
                f"read_parquet({sql_string(counts_glob)}, hive_partitioning = true, hive_types = {{'day': 'VARCHAR'}})"
            )
            counts = f"SELECT metric, bucket, group_value, value, sketch, run_id, day FROM {source}"  # noqa: S608
        else:
            counts = (
                "SELECT NULL::VARCHAR AS metric, NULL::VARCHAR AS bucket, NULL::VARCHAR AS group_value, "
                "NULL::BIGINT AS value, NULL::BLOB AS sketch, NULL::VARCHAR AS run_id, NULL::VARCHAR AS day "
                "WHERE false"
            )
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {names.RAW_TABLE} AS {raw}")
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {names.COUNTS_TABLE} AS {counts}")
        for table, (files, columns) in _kpi_tables(self.lake_dir).items():
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS {_parquet_view(files, columns)}")


# The KPI tables (the nightly job's, headcount/batch/kpis.py): their files under the lake, and their columns (the
# partition columns, metric and day, are in the folder names).
def _kpi_tables(lake_dir: Path) -> dict[str, tuple[str, dict[str, str]]]:
    return {
        "activity": (
            f"{activity_uri(lake_dir)}/metric=*/day=*/*.parquet",
            {
                "metric": "VARCHAR",
                "day": "VARCHAR",
                "group_value": "VARCHAR",
                "player_id": "VARCHAR",
                "first_ts_ms": "BIGINT",
            },
        ),
        "players": (
            f"{players_uri(lake_dir)}/metric=*/*.parquet",
            {"metric": "VARCHAR", "player_id": "VARCHAR", "first_day": "VARCHAR", "group_value": "VARCHAR"},
        ),
        "kpis": (
            f"{kpis_uri(lake_dir)}/metric=*/day=*/*.parquet",
            {
                "metric": "VARCHAR",
                "day": "VARCHAR",
                "bucket": "VARCHAR",
                "group_value": "VARCHAR",
                "value": "BIGINT",
                "sketch": "BLOB",
                "run_id": "VARCHAR",
            },
        ),
    }


def _parquet_view(files: str, columns: dict[str, str]) -> str:
    """A hive-partitioned Parquet table's rows, or none with the same columns before the job first wrote it."""
    if not glob.glob(files):
        nulls = ", ".join(f"NULL::{kind} AS {name}" for name, kind in columns.items())
        return f"SELECT {nulls} WHERE false"  # noqa: S608 - our own column names
    hive_types = ", ".join(f"'{name}': 'VARCHAR'" for name in ("metric", "day") if f"/{name}=*/" in files)
    source = f"read_parquet({sql_string(files)}, hive_partitioning = true, hive_types = {{{hive_types}}})"
    return f"SELECT {', '.join(columns)} FROM {source}"  # noqa: S608 - a quoted glob, our own column names


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

    def register(self, lake: str, first_day: str = names.PROJECTION_FIRST_DAY, catalog: Catalog | None = None) -> None:
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
            columns_types=names.RAW_COLUMNS,
            partitions_types=names.RAW_PARTITIONS,
            compression="gzip",
            sep="\u0001",
            mode="overwrite",
            **_projection(names.raw_projection(first_day)),
        )
        self._parquet_table(
            names.COUNTS_TABLE,
            f"{lake}/counts/",
            names.COUNTS_COLUMNS,
            names.COUNTS_PARTITIONS,
            names.counts_projection(first_day),
        )
        catalog = catalog if catalog is not None else load_catalog()
        activity = names.activity_projection(catalog, first_day) if names.activity_metrics(catalog) else None
        players = names.players_projection(catalog) if names.players_metrics(catalog) else None
        kpis = names.kpis_projection(catalog, first_day) if names.kpis_metrics(catalog) else None
        self._parquet_table(
            names.ACTIVITY_TABLE, f"{activity_uri(lake)}/", names.ACTIVITY_COLUMNS, names.ACTIVITY_PARTITIONS, activity
        )
        self._parquet_table(
            names.PLAYERS_TABLE, f"{players_uri(lake)}/", names.PLAYERS_COLUMNS, names.PLAYERS_PARTITIONS, players
        )
        self._parquet_table(names.KPIS_TABLE, f"{kpis_uri(lake)}/", names.KPIS_COLUMNS, names.KPIS_PARTITIONS, kpis)

    def _parquet_table(
        self,
        table: str,
        path: str,
        columns: dict[str, str],
        partitions: dict[str, str],
        projection: dict[str, str] | None,
    ) -> None:
        """A table of the job's Parquet files (snappy) at `path`, or none (dropped if there) without a projection."""
        import awswrangler as wr

        if projection is None:
            wr.catalog.delete_table_if_exists(database=self.database, table=table)
            return
        wr.catalog.create_parquet_table(
            database=self.database,
            table=table,
            path=path,
            columns_types=columns,
            partitions_types=partitions,
            compression="snappy",
            mode="overwrite",
            **_projection(projection),
        )


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
