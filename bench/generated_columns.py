"""What the typed generated columns (and the geom trigger) cost on upsert.

On 300,000 generated rows staged in the database, times the same INSERT ... ON CONFLICT
(first load into an empty table, then an update of every row) into:
  bare      a (ticket_id, raw, ingested_at) table: no generated columns, no trigger
  columns   tickets.inc with its trigger disabled: the generated columns alone
  full      tickets.inc as the ingest writes it: tickets.merge_stage() (generated columns,
            positions resolved set-based, in-file dedup and the unchanged-row filter)
and again with the alternative tickets.eat_ts design (inline SQL) in place of the shipped one.
Prints a table; nothing is asserted.

    python bench/generated_columns.py [--rows 300000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import stage_rows, throwaway_database, timed

UPSERT = """
INSERT INTO {table} AS t (ticket_id, raw) SELECT ticket_id, raw FROM bench_stage{suffix}
ON CONFLICT (ticket_id) DO UPDATE SET raw = EXCLUDED.raw, ingested_at = now()
WHERE t.raw IS DISTINCT FROM EXCLUDED.raw
"""

# The alternative measured against the shipped PL/pgSQL tickets.eat_ts: the same rule as a plain
# SQL function that PostgreSQL inlines (the design the foundation issue suggested).
INLINE_SQL_EAT_TS_TEMPLATE = """
CREATE OR REPLACE FUNCTION tickets.eat_ts(v text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN translate(v, '0123456789T', '9999999999 ') IN ({shapes})
         AND substr(v, 6, 2) COLLATE "C" BETWEEN '01' AND '12'
         AND substr(v, 9, 2) COLLATE "C" BETWEEN '01' AND CASE substr(v, 6, 2)
                WHEN '02' THEN CASE WHEN substr(v, 1, 4)::int % 4 = 0
                                     AND (substr(v, 1, 4)::int % 100 <> 0 OR substr(v, 1, 4)::int % 400 = 0)
                                    THEN '29' ELSE '28' END
                WHEN '04' THEN '30' WHEN '06' THEN '30' WHEN '09' THEN '30' WHEN '11' THEN '30'
                ELSE '31' END
         AND substr(v, 12, 2) COLLATE "C" <= '23'
         AND substr(v, 15, 2) COLLATE "C" <= '59'
         AND substr(v, 18, 2) COLLATE "C" <= '59'
        THEN timezone(
            -- what follows the seconds is the offset: '', 'Z', '+HH', '+HHMM' or '+HH:MM'
            CASE ltrim(substr(v, 17), ':.0123456789')
                WHEN '' THEN interval '03:00'
                WHEN 'Z' THEN interval '0'
                ELSE make_interval(mins =>
                        CASE substr(ltrim(substr(v, 17), ':.0123456789'), 1, 1) WHEN '-' THEN -1 ELSE 1 END
                        * (substr(ltrim(substr(v, 17), ':.0123456789'), 2, 2)::int * 60
                           + coalesce(nullif(substr(replace(ltrim(substr(v, 17), ':.0123456789'), ':', ''), 4, 2),
                                             '')::int, 0)))
            END,
            make_timestamp(substr(v, 1, 4)::int, substr(v, 6, 2)::int, substr(v, 9, 2)::int,
                           substr(v, 12, 2)::int, substr(v, 15, 2)::int,
                           CASE WHEN substr(v, 17, 1) = ':'
                                THEN substr(v, 18, length(v) - 17
                                               - length(ltrim(substr(v, 17), ':.0123456789')))::float8
                                ELSE 0 END))
    END
$$;
"""


# The accepted shapes (digits as 9): date, time, optional seconds and fraction, optional offset.
SHAPES = ", ".join(
    f"'9999-99-99 99:99{seconds}{offset}'"
    for offset in ("", "Z", "+99", "-99", "+9999", "-9999", "+99:99", "-99:99")
    for seconds in ["", ":99", *(":99." + "9" * k for k in range(1, 7))]
)
INLINE_SQL_EAT_TS = INLINE_SQL_EAT_TS_TEMPLATE.replace("{shapes}", SHAPES)

TIMESTAMP_COLUMNS = {
    "created_at_service": "created_at_service",
    "scheduled_at": "scheduled_at",
    "closed_at": "closed_at",
    "first_seen_at": "first_seen_at",
    "last_seen_at": "last_seen_at",
    "source_created_at": "created_at",
    "source_updated_at": "updated_at",
}


def stage(conn: psycopg.Connection, rows: int) -> None:
    """The staged rows (every raw changed in bench_stage_changed) and the bare table."""
    stage_rows(conn, rows, changed_every=1)
    conn.execute(
        "CREATE TABLE inc_bare (ticket_id text PRIMARY KEY, raw jsonb NOT NULL,"
        " ingested_at timestamptz NOT NULL DEFAULT now())"
    )
    conn.commit()


def run(conn: psycopg.Connection, table: str, suffix: str, merge: bool) -> float:
    """One upsert; `merge` takes the ingest's real path (tickets.merge_stage) instead of the plain statement."""
    with timed() as t:
        if merge:
            conn.execute("SELECT tickets.begin_stage()")
            conn.execute(f"INSERT INTO stage SELECT * FROM bench_stage{suffix}")
            conn.execute("SELECT tickets.merge_stage('inc', true, p_history := false)")
        else:
            conn.execute(UPSERT.format(table=table, suffix=suffix))
        conn.commit()
    return t[0]


def measure(conn: psycopg.Connection) -> dict[str, tuple[float, float]]:
    results = {}
    for label, table, trigger in (
        ("bare", "inc_bare", None),
        ("columns", "tickets.inc", False),
        ("full", "tickets.inc", True),
    ):
        conn.execute(f"TRUNCATE {table}")
        if trigger is not None:
            state = "ENABLE" if trigger else "DISABLE"
            conn.execute(f"ALTER TABLE tickets.inc {state} TRIGGER inc_resolve_geom")
        conn.commit()
        conn.execute("CHECKPOINT")
        first = run(conn, table, "", merge=label == "full")
        conn.execute("CHECKPOINT")
        update = run(conn, table, "_changed", merge=label == "full")
        results[label] = (first, update)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    args = parser.parse_args()
    with throwaway_database() as url, psycopg.connect(url) as conn:
        stage(conn, args.rows)
        rows = conn.execute("SELECT count(*) FROM bench_stage").fetchone()[0]
        shipped = measure(conn)
        conn.execute("DROP FUNCTION tickets.eat_ts(text) CASCADE")  # the generated columns go with it
        conn.execute(INLINE_SQL_EAT_TS)
        for column, key in TIMESTAMP_COLUMNS.items():
            conn.execute(
                f"ALTER TABLE tickets.inc ADD COLUMN {column} timestamptz"
                f" GENERATED ALWAYS AS (tickets.eat_ts(raw ->> '{key}')) STORED"
            )
        conn.commit()
        alternative = measure(conn)

    print(f"upsert of {rows:,} rows (seconds; x = relative to bare)")
    print(f"{'table':<34}{'first load':>12}{'x':>7}{'update all':>12}{'x':>7}")
    bare = shipped["bare"]
    for design, results in (("eat_ts PL/pgSQL (shipped)", shipped), ("eat_ts inline SQL", alternative)):
        for label in ("bare", "columns", "full"):
            if label == "bare" and results is alternative:
                continue
            first, update = results[label]
            name = "bare (ticket_id, raw)" if label == "bare" else f"{label}: {design}"
            print(f"{name:<34}{first:>12.2f}{first / bare[0]:>7.2f}{update:>12.2f}{update / bare[1]:>7.2f}")


if __name__ == "__main__":
    main()
