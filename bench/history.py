"""What history capture costs the ingest: tickets.merge_stage() with and without it.

On 300,000 generated rows staged in the database: the first load into an empty tickets.inc,
then a file with 1 % of tickets changed, each with p_history on (events + daily backlog
refresh, as deployed) and off. Prints a table; nothing is asserted.

    python bench/history.py [--rows 300000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import stage_rows, throwaway_database, timed


def merge(conn: psycopg.Connection, source: str, history: bool) -> tuple[float, int, int]:
    with timed() as t:
        conn.execute("SELECT tickets.begin_stage()")
        conn.execute(f"INSERT INTO stage SELECT * FROM {source}")
        counts = conn.execute(
            "SELECT inserted + updated, events FROM tickets.merge_stage('inc', true, 'bench', now(), %s)", (history,)
        ).fetchone()
        conn.commit()
    return t[0], counts[0], counts[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    args = parser.parse_args()
    results = []
    with throwaway_database() as url, psycopg.connect(url) as conn:
        rows = stage_rows(conn, args.rows, changed_every=100)
        for history in (False, True):
            conn.execute("TRUNCATE tickets.inc, tickets.inc_events, reporting.inc_daily_backlog")
            conn.commit()
            conn.execute("CHECKPOINT")
            first = merge(conn, "bench_stage", history)
            conn.execute("CHECKPOINT")
            changed = merge(conn, "bench_stage_changed", history)
            results.append((history, first, changed))
    print(f"merge of {rows:,} staged rows (seconds; rows written, events written)")
    print(f"{'history':<9}{'first load':>12}{'rows':>10}{'events':>10}{'1% changed':>12}{'rows':>8}{'events':>8}")
    for history, (fs, fr, fe), (cs, cr, ce) in results:
        print(f"{'on' if history else 'off':<9}{fs:>12.2f}{fr:>10,}{fe:>10,}{cs:>12.2f}{cr:>8,}{ce:>8,}")
    off, on = results
    print(
        f"history costs {on[1][0] / off[1][0] - 1:+.0%} on a first load, {on[2][0] / off[2][0] - 1:+.0%} on a 1% change"
    )


if __name__ == "__main__":
    main()
