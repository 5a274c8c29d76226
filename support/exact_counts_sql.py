"""Exact counts in DuckDB SQL, written independently of the Spark job: the same validation rules, dedup and buckets.

It is the cross-check of the nightly job in the tests and the baseline of the batch benchmark. Nothing here imports the
Python validator (`headcount.core.events`) or the bucket code: the rules are re-stated in SQL so that a bug in one is caught
by the other. Only the limits (sizes, time windows) are imported, so that a changed limit changes both.

Known differences with `parse_event` (none occurs in what producers send; the shared corpus `tests/corpus/events.jsonl`
pins the cases both must agree on, and the tests run it through both):
- duplicate keys in an object: orjson keeps the last, DuckDB's JSON functions read the first;
- ISO-8601 timestamps: SQL reads the extended calendar form `YYYY-MM-DD?HH[:MM[:SS[.f...]]]` with `Z`, `+HH`, `+HHMM` or
  `+HH:MM`; Python 3.11's `fromisoformat` also takes the basic form, week dates, offsets with seconds and a few oddities
  (`10:00:00.Z`), which SQL rejects as `bad_ts`;
- records that are not UTF-8 (not JSON for both) are skipped by DuckDB's reader instead of being rejected;
- a carriage return inside a line: DuckDB's reader splits the line there, Spark's (`lineSep="\\n"`) does not. A trailing
  one also changes the record's MD5, the dedup's last tie-breaker (same event_id, same arrival hour, different bytes).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from headcount.core.catalog import Catalog, Kind
from headcount.core.events import (
    FUTURE_LIMIT_MS,
    MAX_ATTR_VALUE_CHARS,
    MAX_ATTRS,
    MAX_ID_CHARS,
    MAX_RECORD_BYTES,
    PAST_LIMIT_MS,
)
from headcount.views.tables import RAW_CSV_OPTIONS, sql_string

HOUR_MS = 3_600_000
TYPE_PATTERN = "[a-z][a-z0-9_]{0,63}"
ATTR_KEY_PATTERN = "[a-z][a-z0-9_]{0,31}"
# Extended ISO-8601 calendar date and time with a UTC offset; groups: y mo d h mi s frac tz sign oh om.
ISO_PATTERN = (
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})(?s:.)([0-9]{2})(?::([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?)?"
    r"(Z|([+-])([0-9]{2})(?::?([0-9]{2}))?)$"
)


_MACROS = [
    # Python's str(int) of a JSON integer, or NULL when the JSON value is not an integer literal (1.0, 1e3, "1", true).
    # (Integers outside [-2^63, 2^64) are floats for orjson and DOUBLE for DuckDB alike.)
    """CREATE OR REPLACE TEMP MACRO hc_int_text(j) AS CASE
        WHEN json_type(j) IN ('BIGINT', 'UBIGINT') THEN j::VARCHAR
    END""",
    # json.dumps(float): shortest round-trip digits, like DuckDB's DOUBLE to VARCHAR, except the special values.
    """CREATE OR REPLACE TEMP MACRO hc_float_text(x) AS CASE
        WHEN isnan(x) THEN 'NaN' WHEN x = 'inf'::DOUBLE THEN 'Infinity' WHEN x = '-inf'::DOUBLE THEN '-Infinity'
        ELSE x::VARCHAR
    END""",
    # An attribute value as every layer spells it, NULL when it is not a scalar.
    """CREATE OR REPLACE TEMP MACRO hc_scalar_text(j) AS CASE json_type(j)
        WHEN 'VARCHAR' THEN j ->> '$'
        WHEN 'BOOLEAN' THEN j::VARCHAR
        WHEN 'BIGINT' THEN j::VARCHAR
        WHEN 'UBIGINT' THEN j::VARCHAR
        WHEN 'DOUBLE' THEN coalesce(hc_int_text(j), hc_float_text(j::DOUBLE))
    END""",
    # Epoch milliseconds of a JSON integer, clamped (far in the future) when it does not fit a BIGINT.
    """CREATE OR REPLACE TEMP MACRO hc_int_ms(t) AS
        least(t::HUGEINT, 9000000000000000000::HUGEINT)::BIGINT""",
    # Epoch milliseconds of the ISO parts (a struct from regexp_extract), NULL when the date or time is not valid.
    """CREATE OR REPLACE TEMP MACRO hc_iso_ms(p) AS CASE WHEN p.y <> '' AND p.y >= '0001' THEN
        epoch_ms(try_strptime(p.y || '-' || p.mo || '-' || p.d || ' ' || p.h || ':' || coalesce(nullif(p.mi, ''), '00')
                              || ':' || coalesce(nullif(p.s, ''), '00'), '%Y-%m-%d %H:%M:%S'))
        - CASE WHEN p.tz = 'Z' THEN 0 ELSE (CASE WHEN p.sign = '-' THEN -1 ELSE 1 END)
              * (TRY_CAST(p.oh AS BIGINT) * 3600 + coalesce(TRY_CAST(p.om AS BIGINT), 0) * 60) * 1000 END
        + coalesce(rpad(substr(p.frac, 1, 3), 3, '0')::BIGINT, 0)
    END""",
    """CREATE OR REPLACE TEMP MACRO hc_iso_offset_ok(p) AS
        p.tz = 'Z' OR TRY_CAST(p.oh AS BIGINT) * 3600 + coalesce(TRY_CAST(p.om AS BIGINT), 0) * 60 < 86400""",
    # A UTC offset in minutes as isoformat() writes it: +01:00, -03:30.
    """CREATE OR REPLACE TEMP MACRO hc_offset_text(minutes) AS
        CASE WHEN minutes < 0 THEN '-' ELSE '+' END || lpad((abs(minutes) // 60)::VARCHAR, 2, '0') || ':'
        || lpad((abs(minutes) % 60)::VARCHAR, 2, '0')""",
]


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    for statement in _MACROS:
        con.execute(statement)


def validation_sql(source: str) -> str:
    """A query over `source` (columns line VARCHAR, earliest_ms BIGINT, latest_ms BIGINT, anything else) that adds the
    verdict `reason` (NULL when valid) and the normalized event: event_id, type, player_id, ts_ms, attrs MAP."""
    return f"""
WITH s0 AS (
    SELECT *, coalesce(line, '') AS _l FROM {source}
), s1 AS (
    SELECT *, strlen(_l) > {MAX_RECORD_BYTES} AS _too_large, _l AS _t FROM s0
), s2 AS (
    SELECT *, CASE WHEN NOT _too_large AND json_valid(_t)
                   THEN regexp_replace(_t, '"(?:[^"\\\\]|\\\\.)*"', '""', 'g') END AS _skeleton  -- strings emptied
    FROM s1
), s3 AS (
    -- DuckDB's parser also takes trailing commas, NaN/Infinity spellings and numbers too large for a double, which
    -- the validator (orjson, strict RFC 8259) refuses.
    SELECT *, _skeleton IS NOT NULL
              AND NOT regexp_matches(_skeleton, ',[ \\t\\n\\r]*[\\]}}]')
              AND NOT regexp_matches(regexp_replace(_skeleton, 'true|false|null|[0-9][eE]', '', 'g'), '[A-Za-z]')
              AND NOT coalesce(list_bool_or(list_transform(
                      regexp_extract_all(_skeleton, '[0-9.]+[eE][+-]?[0-9]+|[0-9]{{300,}}'),
                      lambda n: isinf(n::DOUBLE))), false) AS _json_ok
    FROM s2
), s4 AS (
    SELECT *, CASE WHEN _json_ok THEN json_type(_t) END AS _doc_type FROM s3
), s4b AS (
    -- a key twice in one object, at any depth (json_tree keeps both; DuckDB's extractors would take the first)
    SELECT *, _doc_type = 'OBJECT' AND (
        SELECT count(*) FROM (SELECT 1 FROM json_tree(CASE WHEN s4._doc_type = 'OBJECT' THEN s4._t ELSE '{{}}' END)
                              WHERE key IS NOT NULL GROUP BY parent, key HAVING count(*) > 1)) > 0 AS _dup
    FROM s4
), s5 AS (
    SELECT *, CASE WHEN _doc_type = 'OBJECT'
                   THEN json_extract(_t, ['$.type', '$.player_id', '$.ts', '$.event_id', '$.attrs']) END AS _f
    FROM s4b
), s6 AS (
    SELECT *,
        CASE WHEN json_type(_f[1]) = 'VARCHAR' AND regexp_full_match(_f[1] ->> '$', '{TYPE_PATTERN}')
             THEN _f[1] ->> '$' END AS _type,
        CASE WHEN json_type(_f[2]) = 'VARCHAR' THEN _f[2] ->> '$' ELSE hc_int_text(_f[2]) END AS _pid_text,
        hc_int_text(_f[3]) AS _ts_int,
        CASE WHEN json_type(_f[3]) = 'VARCHAR'
             THEN regexp_extract(_f[3] ->> '$', '{ISO_PATTERN}',
                                 ['y', 'mo', 'd', 'h', 'mi', 's', 'frac', 'tz', 'sign', 'oh', 'om']) END AS _iso,
        _f[4] AS _eid_j,
        CASE WHEN json_type(_f[5]) = 'OBJECT' THEN json_keys(_f[5]) END AS _keys,
        _f[5] AS _attrs_j
    FROM s5
), s7 AS (
    SELECT *,
        CASE WHEN length(_pid_text) BETWEEN 1 AND {MAX_ID_CHARS} THEN _pid_text END AS _pid,
        CASE WHEN _ts_int IS NOT NULL THEN hc_int_ms(_ts_int)
             WHEN _iso IS NOT NULL AND hc_iso_offset_ok(_iso) THEN hc_iso_ms(_iso) END AS _ts,
        _eid_j IS NOT NULL AND json_type(_eid_j) <> 'NULL'
            AND NOT (json_type(_eid_j) = 'VARCHAR' AND length(_eid_j ->> '$') BETWEEN 1 AND {MAX_ID_CHARS}) AS _bad_eid,
        CASE WHEN _attrs_j IS NULL OR json_type(_attrs_j) = 'NULL' THEN false
             WHEN _keys IS NULL THEN true
             WHEN len(list_distinct(_keys)) > {MAX_ATTRS} THEN true
             WHEN NOT coalesce(list_bool_and(list_transform(_keys,
                      lambda k: regexp_full_match(k, '{ATTR_KEY_PATTERN}'))), true) THEN true
             ELSE NOT coalesce(list_bool_and(list_transform(_keys,
                      lambda k: coalesce(length(hc_scalar_text(json_extract(_attrs_j, '$.' || k)))
                                         <= {MAX_ATTR_VALUE_CHARS}, false))), true)
        END AS _bad_attrs
    FROM s6
), s8 AS (
    SELECT *,
        CASE
            WHEN _too_large THEN 'too_large'
            WHEN NOT _json_ok THEN 'not_json'
            WHEN _doc_type <> 'OBJECT' THEN 'not_object'
            WHEN _dup THEN 'duplicate_key'
            WHEN _type IS NULL THEN 'bad_type'
            WHEN _pid IS NULL THEN 'bad_player_id'
            WHEN _ts IS NULL THEN 'bad_ts'
            WHEN _ts > latest_ms + {FUTURE_LIMIT_MS} THEN 'ts_in_future'
            WHEN _ts < earliest_ms - {PAST_LIMIT_MS} THEN 'ts_too_old'
            WHEN _bad_eid THEN 'bad_event_id'
            WHEN _bad_attrs THEN 'bad_attrs'
        END AS reason
    FROM s7
)
SELECT * EXCLUDE (_l, _t, _too_large, _skeleton, _json_ok, _doc_type, _dup, _f, _type, _pid_text, _ts_int, _iso, _eid_j,
                  _keys, _attrs_j, _pid, _ts, _bad_eid, _bad_attrs),
    CASE WHEN reason IS NULL THEN _eid_j ->> '$' END AS event_id,
    CASE WHEN reason IS NULL THEN _type END AS type,
    CASE WHEN reason IS NULL THEN _pid END AS player_id,
    CASE WHEN reason IS NULL THEN _ts END AS ts_ms,
    CASE WHEN reason IS NULL THEN
        CASE WHEN _keys IS NULL OR len(_keys) = 0 THEN MAP {{}}::MAP(VARCHAR, VARCHAR)
             ELSE map_from_entries(list_transform(list_distinct(_keys),
                      lambda k: {{'key': k, 'value': hc_scalar_text(json_extract(_attrs_j, '$.' || k))}})) END
    END AS attrs
FROM s8"""  # noqa: S608 - built from constants and a relation name, no user input


@dataclass(frozen=True)
class Verdict:
    reason: str | None  # None: valid
    event_id: str | None = None
    type: str | None = None
    player_id: str | None = None
    ts_ms: int | None = None
    attrs: dict[str, str] | None = None


def verdicts(records: Sequence[tuple[str, int, int]], con: duckdb.DuckDBPyConnection | None = None) -> list[Verdict]:
    """The SQL verdict on each (record text, earliest arrival ms, latest arrival ms), in order."""
    con = con or duckdb.connect()
    install_macros(con)
    con.execute("CREATE OR REPLACE TEMP TABLE hc_lines (n BIGINT, line VARCHAR, earliest_ms BIGINT, latest_ms BIGINT)")
    con.executemany(
        "INSERT INTO hc_lines VALUES (?, ?, ?, ?)",
        [(n, line, earliest, latest) for n, (line, earliest, latest) in enumerate(records)],
    )
    rows = con.execute(
        f"SELECT reason, event_id, type, player_id, ts_ms, attrs FROM ({validation_sql('hc_lines')}) ORDER BY n"  # noqa: S608
    ).fetchall()
    return [Verdict(r[0], r[1], r[2], r[3], r[4], dict(r[5]) if r[5] is not None else None) for r in rows]


def raw_files(lake_dir: str | Path, dts: Iterable[str]) -> list[str]:
    """The archive's complete files of these arrival days (hidden temporary files excluded)."""
    files: list[str] = []
    for dt in dts:
        files += sorted(glob.glob(os.path.join(str(lake_dir), "raw", f"dt={dt}", "hr=*", "*.gz")))
    return files


def _metrics_values(catalog: Catalog) -> str:
    """The metrics of the counts table (distinct and count: the KPI kinds are kpi_sql.py's), as SQL VALUES."""

    def quoted(text: str | None) -> str:
        return "NULL" if text is None else sql_string(text)

    return ", ".join(
        f"({quoted(m.name)}, {quoted(m.kind.value)}, {quoted(m.event_type)}, {quoted(m.granularity.value)}, "
        f"{quoted(m.group_by)})"
        for m in catalog.metrics
        if m.kind.counted
    )


def exact_counts_sql(files: Sequence[str], days: Sequence[str], tz: str, catalog: Catalog) -> str:
    """The query: exact value per (metric, bucket, group_value) for buckets of `days`, from these raw files."""
    file_list = "[" + ", ".join(sql_string(f) for f in files) + "]"
    # A file's arrival window: its hour's start to when it was written, at least to the hour's end.
    written = ", ".join(f"({sql_string(f)}, {int(os.stat(f).st_mtime * 1000)})" for f in files)
    source = f"""(
        SELECT line, epoch_ms(strptime(dt || ' ' || hr, '%Y-%m-%d %H')) AS earliest_ms,
               greatest(epoch_ms(strptime(dt || ' ' || hr, '%Y-%m-%d %H')) + {HOUR_MS - 1}, w.written_ms) AS latest_ms
        FROM read_csv({file_list}, {RAW_CSV_OPTIONS}, filename = true) r
        JOIN (VALUES {written}) w (file, written_ms) ON r.filename = w.file)"""  # noqa: S608 - quoted file names
    day_list = ", ".join(f"'{date.fromisoformat(d).isoformat()}'" for d in days)
    zone = sql_string(tz)
    return f"""
WITH validated AS ({validation_sql(source)}),
valid AS (
    SELECT event_id, type, player_id, ts_ms, attrs, earliest_ms, line FROM validated WHERE reason IS NULL
),
kept AS (  -- one copy per event_id: the first to arrive, ties broken by the record's MD5 (as the Spark job does)
    SELECT * FROM valid
    QUALIFY event_id IS NULL OR row_number() OVER (PARTITION BY event_id ORDER BY earliest_ms, md5(line)) = 1
),
metrics (metric, kind, event_type, granularity, group_by) AS (VALUES {_metrics_values(catalog)}),
cells AS (
    SELECT m.metric, m.kind, m.granularity, k.player_id,
           CASE WHEN m.group_by IS NULL THEN '' ELSE coalesce(k.attrs[m.group_by], 'unknown') END AS group_value,
           make_timestamp(k.ts_ms * 1000) AS utc,
           timezone({zone}, timezone('UTC', make_timestamp(k.ts_ms * 1000))) AS local
    FROM kept k JOIN metrics m ON k.type = m.event_type
),
bucketed AS (
    SELECT metric, kind, player_id, group_value,
        CASE WHEN granularity = 'day' THEN strftime(local, '%Y-%m-%d')
             WHEN granularity = 'hour'
             THEN strftime(local, '%Y-%m-%dT%H:00') || hc_offset_text((epoch_ms(local) - epoch_ms(utc)) // 60000)
             ELSE strftime(local, '%Y-%m-%dT%H:') || lpad(CAST(minute(local) // 15 * 15 AS VARCHAR), 2, '0')
                  || hc_offset_text((epoch_ms(local) - epoch_ms(utc)) // 60000)
        END AS bucket
    FROM cells
)
SELECT metric, bucket, group_value,
       count(*) FILTER (WHERE kind = '{Kind.COUNT.value}')
       + count(DISTINCT player_id) FILTER (WHERE kind = '{Kind.DISTINCT.value}') AS value
FROM bucketed
WHERE substr(bucket, 1, 10) IN ({day_list})
GROUP BY metric, bucket, group_value"""  # noqa: S608 - quoted literals, ISO days


def exact_counts(
    lake_dir: str | Path,
    dts: Sequence[str],
    days: Sequence[str],
    tz: str,
    catalog: Catalog,
    con: duckdb.DuckDBPyConnection | None = None,
) -> list[tuple[str, str, str, int]]:
    """(metric, bucket, group_value, value) for every cell with events, reading the arrival partitions `dts` and keeping
    buckets of `days`. Cells without events are absent (the job writes zero rows for them)."""
    files = raw_files(lake_dir, dts)
    if not files or not days:
        return []
    con = con or duckdb.connect()
    install_macros(con)
    rows = con.execute(exact_counts_sql(files, days, tz, catalog) + " ORDER BY metric, bucket, group_value").fetchall()
    return [(m, b, g, int(v)) for m, b, g, v in rows]
