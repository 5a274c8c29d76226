"""Every game KPI of the catalog in DuckDB SQL over the raw lake, written independently of the Spark job: the
cross-check of the nightly job's `kpis` table and of what it publishes.

A KPI of a day depends on more than that day's events: a rolling window reaches 27 days back, a player is new on the
first day they were ever seen, a cohort's retention looks 30 days ahead. The job computes a few days a night
(docs/DESIGN.md: the run for D recomputes D-2 .. D and reads the arrival days D-3 .. D+2) and keeps what earlier runs
learnt of the other days. So the batch layer's answer depends on which runs happened and what the archive held when
each ran. This recount takes exactly that (`Run`: the days a run computed, the raw files that existed then) and
re-derives, from the raw files alone:

- the players active on each day X (the KPI's base metric: valid, deduplicated events of its type), as the LAST run
  that computed X saw them: the same validation (support/exact_counts_sql.py's SQL, the independent one), the same dedup
  (over every file the run read), over the arrival days that run read;
- from those, each computed day's rolling distinct players, new players (first day ever, and everyone seen by then),
  and retention of each cohort D on each computed D+k, plus the ratios (computed at serve time, from the other rows).

Nothing here imports headcount.batch: the plan's rules (the arrival days a day needs) are restated from docs/DESIGN.md.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from headcount.core.catalog import Catalog, Kind, Metric
from headcount.views.tables import RAW_CSV_OPTIONS, sql_string
from support.exact_counts_sql import HOUR_MS, exact_counts_sql, install_macros, validation_sql

ARRIVAL_DAYS = range(-1, 3)  # an event of local day X is archived under arrival day (UTC) X-1 .. X+2
_DT = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/hr=\d{2}/[^/]*$")

Row = tuple[str, str, str | None]  # (metric, bucket, group_value): a row of the kpis table


@dataclass(frozen=True)
class Run:
    """A run of the nightly job, as far as the answers depend on it: the local days it computed, oldest first, and
    every complete file of the raw archive when it ran, with its modification time (epoch ms: the arrival window's
    end). The archive only ever gains files, so the files are the archive as the run saw it."""

    days: tuple[str, ...]
    files: tuple[tuple[str, int], ...]


def archive_files(lake_dir: str | Path) -> tuple[tuple[str, int], ...]:
    """The archive's complete files now (hidden temporary files excluded) with their modification times."""
    paths = sorted(glob.glob(os.path.join(str(lake_dir), "raw", "dt=*", "hr=*", "*.gz")))
    return tuple((p, int(os.stat(p).st_mtime * 1000)) for p in paths)


def days_of_run(day: date, days_back: int, files: Iterable[tuple[str, int]]) -> tuple[str, ...]:
    """The days a run for `day` computes (docs/DESIGN.md): `day` and the `days_back` before it, except an earlier day
    none of whose own arrival day (dt = that day) is in the archive: that one is left as it was."""
    existing = {m.group(1) for p, _ in files if (m := _DT.search(p))}
    wanted = [day - timedelta(days=i) for i in range(days_back, -1, -1)]
    return tuple(d.isoformat() for d in wanted if d == day or d.isoformat() in existing)


def nightly_run_ms(day: date, tz: str) -> int:
    """When the nightly run for `day` starts: 02:30 local time the next day (the stack's schedule runs it once the day
    has ended; the time only decides what had arrived by then)."""
    return int(datetime.combine(day + timedelta(days=1), time(2, 30), ZoneInfo(tz)).timestamp() * 1000)


def files_read(run: Run) -> list[tuple[str, int]]:
    """The run's input: the files of every arrival day that can hold events of the days it computed."""
    wanted = {(date.fromisoformat(d) + timedelta(days=i)).isoformat() for d in run.days for i in ARRIVAL_DAYS}
    return [(p, written) for p, written in run.files if (m := _DT.search(p)) and m.group(1) in wanted]


def activity_sql(files: Sequence[tuple[str, int]], days: Sequence[str], tz: str, bases: Sequence[Metric]) -> str:
    """(metric, day DATE, player_id) of every player active on one of `days` in one of the daily distinct `bases`, from
    these raw files: validated and deduplicated over all of them (the earliest archive hour's copy of an event_id)."""
    file_list = "[" + ", ".join(sql_string(f) for f, _ in files) + "]"
    written = ", ".join(f"({sql_string(f)}, {w})" for f, w in files)
    source = f"""(
        SELECT line, epoch_ms(strptime(dt || ' ' || hr, '%Y-%m-%d %H')) AS earliest_ms,
               greatest(epoch_ms(strptime(dt || ' ' || hr, '%Y-%m-%d %H')) + {HOUR_MS - 1}, w.written_ms) AS latest_ms
        FROM read_csv({file_list}, {RAW_CSV_OPTIONS}, filename = true) r
        JOIN (VALUES {written}) w (file, written_ms) ON r.filename = w.file)"""
    metrics = ", ".join(f"({sql_string(m.name)}, {sql_string(m.event_type)})" for m in bases)
    day_list = ", ".join(sql_string(date.fromisoformat(d).isoformat()) for d in days)
    return f"""
WITH validated AS ({validation_sql(source)}),
kept AS (
    SELECT event_id, type, player_id, ts_ms FROM validated WHERE reason IS NULL
    QUALIFY event_id IS NULL OR row_number() OVER (PARTITION BY event_id ORDER BY earliest_ms, md5(line)) = 1
),
local_days AS (
    SELECT type, player_id,
           strftime(timezone({sql_string(tz)}, timezone('UTC', make_timestamp(ts_ms * 1000))), '%Y-%m-%d') AS day
    FROM kept
)
SELECT DISTINCT m.metric, l.day::DATE AS day, l.player_id
FROM local_days l JOIN (VALUES {metrics}) m (metric, event_type) ON l.type = m.event_type
WHERE l.day IN ({day_list})"""  # noqa: S608 - quoted literals


class KpiRecount:
    """The batch layer's KPI answers after a sequence of runs: `add_run` each run in the order they ran, then `rows()`
    and `ratios()` give what the kpis table and the serving layer must hold."""

    def __init__(self, catalog: Catalog, tz: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.catalog, self.tz = catalog, tz
        self.con = con or duckdb.connect()
        install_macros(self.con)
        self.runs: list[Run] = []
        kpis = catalog.kpis()
        for metric in kpis:
            if metric.group_by is not None:
                raise ValueError(f"{metric.name}: the recount covers ungrouped KPIs (the batch contract's)")
        parts = [catalog.get(n or "") for m in kpis if m.kind is Kind.RATIO for n in (m.numerator, m.denominator)]
        self.bases = {catalog.base(m).name: catalog.base(m) for m in kpis if m.kind is not Kind.RATIO}
        self.bases |= {p.name: p for p in parts if p is not None and p.kind is Kind.DISTINCT}
        self.counted = sorted({p.name for p in parts if p is not None and p.kind is Kind.COUNT})
        self.con.execute("CREATE OR REPLACE TEMP TABLE hc_computed (run INTEGER, day DATE)")
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE hc_active (run INTEGER, metric VARCHAR, day DATE, player_id VARCHAR)"
        )
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE hc_counted (run INTEGER, metric VARCHAR, day DATE, value BIGINT)"
        )

    def add_run(self, run: Run) -> None:
        """What this run learnt: the players active on each day it computed, from the files it read."""
        n = len(self.runs)
        self.runs.append(run)
        self.con.executemany("INSERT INTO hc_computed VALUES (?, ?::DATE)", [(n, d) for d in run.days])
        files = files_read(run)
        if not files:
            return
        query = activity_sql(files, run.days, self.tz, list(self.bases.values()))
        self.con.execute(f"INSERT INTO hc_active SELECT {n}, * FROM ({query})")  # noqa: S608
        if self.counted:  # a count metric in a ratio: its exact day values, as the counts table has them
            cells = exact_counts_sql([f for f, _ in files], run.days, self.tz, self.catalog)
            names = ", ".join(sql_string(c) for c in self.counted)
            self.con.execute(
                f"INSERT INTO hc_counted SELECT {n}, metric, bucket::DATE, value FROM ({cells}) "  # noqa: S608
                f"WHERE metric IN ({names}) AND group_value = ''"
            )

    def rows(self) -> dict[Row, int]:
        """Every row of the kpis table (metric, bucket, group_value) -> value: for each day some run computed, its
        rolling and new-player rows, and each retention row `C+k` whose day C+k was computed, of a computed cohort C."""
        self._final()
        out: dict[Row, int] = {}
        for metric in self.catalog.kpis():
            if metric.kind is Kind.RATIO:
                continue
            base = sql_string(self.catalog.base(metric).name)
            for bucket, group, value in self.con.execute(_KPI_SQL[metric.kind](metric, base)).fetchall():
                out[(metric.name, bucket, group)] = int(value)
        return out

    def ratios(self) -> dict[tuple[str, str], float | None]:
        """(ratio metric, day) -> numerator / denominator of each computed day (None when the denominator is 0)."""
        rows = self.rows()
        days = [d for (d,) in self.con.execute("SELECT strftime(day, '%Y-%m-%d') FROM hc_latest ORDER BY 1").fetchall()]
        out: dict[tuple[str, str], float | None] = {}
        for metric in self.catalog.kpis():
            if metric.kind is Kind.RATIO:
                for day in days:
                    num, den = (self._day_value(rows, n, day) for n in (metric.numerator, metric.denominator))
                    out[(metric.name, day)] = num / den if den else None
        return out

    def _day_value(self, rows: dict[Row, int], name: str | None, day: str) -> int:
        metric = self.catalog.get(name or "")
        assert metric is not None and metric.group_by is None, f"a ratio of {name!r}: ungrouped metrics only"
        if not metric.kind.counted:
            return rows[(metric.name, day, "")]
        table, value = (
            ("hc_final", "count(DISTINCT player_id)") if metric.kind is Kind.DISTINCT else ("hc_count", "sum(value)")
        )
        (found,) = self.con.execute(
            f"SELECT coalesce({value}, 0) FROM {table} WHERE metric = ? AND day = ?::DATE",  # noqa: S608
            [metric.name, day],
        ).fetchone()
        return int(found)

    def _final(self) -> None:
        """Of each computed day, what the last run that computed it learnt."""
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE hc_latest AS SELECT day, max(run) AS run FROM hc_computed GROUP BY day"
        )
        for table, source in (("hc_final", "hc_active"), ("hc_count", "hc_counted")):
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT s.* EXCLUDE (run) FROM {source} s JOIN hc_latest USING (day, run)"  # noqa: S608
            )


def _rolling_sql(metric: Metric, base: str) -> str:
    return f"""
SELECT strftime(l.day, '%Y-%m-%d'), '', count(DISTINCT f.player_id)
FROM hc_latest l LEFT JOIN hc_final f
  ON f.metric = {base} AND f.day BETWEEN l.day - {(metric.window_days or 1) - 1} AND l.day
GROUP BY l.day"""  # noqa: S608


_FIRST_DAYS = "SELECT player_id, min(day) AS first_day FROM hc_final WHERE metric = {base} GROUP BY player_id"


def _new_sql(metric: Metric, base: str) -> str:
    # group "": first seen on the day; group NULL: first seen on the day or before (everyone seen by then)
    return f"""
WITH first AS ({_FIRST_DAYS.format(base=base)})
SELECT strftime(l.day, '%Y-%m-%d'), g.group_value,
       count(f.player_id) FILTER (WHERE f.first_day = l.day OR g.group_value IS NULL)
FROM hc_latest l CROSS JOIN (VALUES (''), (NULL)) g (group_value)
LEFT JOIN first f ON f.first_day <= l.day
GROUP BY l.day, g.group_value"""  # noqa: S608


def _retention_sql(metric: Metric, base: str) -> str:
    ks = ", ".join(f"({k})" for k in metric.returned_after)
    return f"""
WITH first AS ({_FIRST_DAYS.format(base=base)}),
cells AS (
    SELECT c.day AS cohort_day, k.k, l.day
    FROM hc_latest l CROSS JOIN (VALUES {ks}) k (k) JOIN hc_latest c ON c.day = l.day - k.k
)
SELECT strftime(cells.cohort_day, '%Y-%m-%d') || '+' || cells.k, '', count(a.player_id)
FROM cells LEFT JOIN first f ON f.first_day = cells.cohort_day
LEFT JOIN hc_final a ON a.metric = {base} AND a.day = cells.day AND a.player_id = f.player_id
GROUP BY cells.cohort_day, cells.k"""  # noqa: S608


_KPI_SQL = {Kind.ROLLING: _rolling_sql, Kind.NEW: _new_sql, Kind.RETENTION: _retention_sql}
