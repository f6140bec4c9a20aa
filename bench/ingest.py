"""Ingest throughput and memory against the database-side floor, at several sizes.

For each size, on generated snapshots and a fresh migrated database:
  first       `fleettickets ingest --csv FILE --apply` into an empty table (wall time, peak RSS)
  identical   the same file again (rows rewritten must be 0)
  1% changed  a file with every 100th ticket changed (rows rewritten = exactly those)
  parse only  the dry run without a database: reading, cleaning and JSON alone
  floor       psql \\copy of pre-built (line, ticket_id, raw) rows into the stage table plus the
              same tickets.merge_stage(), into an empty table of the same schema
Prints a table; nothing is asserted.

    python bench/ingest.py [--sizes 31434,300000,1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import run_cli, throwaway_database
from devtools.feed import Feed, write_csv
from fleettickets.clean import CleanStats, clean_rows


def make_files(folder: Path, rows: int) -> tuple[Path, Path, Path]:
    """The snapshot (`rows` tickets to keep, plus alarms and the sentinel), the same with every 100th
    ticket changed, and COPY-format stage rows of the snapshot for the floor."""
    snapshot, changed, stage = folder / f"{rows}.csv", folder / f"{rows}-changed.csv", folder / f"{rows}.copy"
    feed = Feed(int(rows / 0.6))  # ~34 % alarms, ~4 % not yet created at hour 0: enough to keep `rows`

    def tickets(change: bool):
        kept = 0
        for record in feed.snapshot(0):
            if record["is_alarm"] == "false":
                if kept == rows:
                    return
                if change and kept % 100 == 0:
                    record["owner"] = "changed owner"
                kept += 1
            yield record

    for path, change in ((snapshot, False), (changed, True)):
        with open(path, "w", newline="") as out:
            write_csv(out, tickets(change))
    with open(snapshot, newline="") as source, open(stage, "w") as out:
        for line, ticket_id, raw in clean_rows(source, CleanStats()):
            out.write(f"{line}\t{ticket_id}\t{raw.replace(chr(92), chr(92) * 2)}\n")
    return snapshot, changed, stage


def counts(summary: str) -> dict[str, int]:
    return {k: int(v) for k, v in (p.split("=") for p in summary.split() if "=" in p and p[0] != "s")}


def floor(stage: Path, url: str) -> float:
    script = stage.with_suffix(".sql")
    script.write_text(
        f"BEGIN;\nSELECT tickets.begin_stage();\n\\copy stage FROM '{stage}'\n"
        "SELECT * FROM tickets.merge_stage('inc', true, p_stamp := now());\nCOMMIT;\n"
    )
    started = time.perf_counter()
    subprocess.run(
        [
            "psql",
            "-q",
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,  # the whole URL: its password too
            "-f",
            str(script),
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="31434,300000,1000000")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="fleettickets-bench-") as tmp:
        for rows in (int(s) for s in args.sizes.split(",")):
            snapshot, changed, stage = make_files(Path(tmp), rows)
            parse_s, parse_rss, _ = run_cli(["ingest", "--csv", str(snapshot)], None)
            with throwaway_database() as url:
                first_s, first_rss, first = run_cli(["ingest", "--csv", str(snapshot), "--apply"], url)
                same_s, same_rss, same = run_cli(["ingest", "--csv", str(snapshot), "--apply"], url)
                change_s, change_rss, change = run_cli(["ingest", "--csv", str(changed), "--apply"], url)
            with throwaway_database() as url:
                floor_s = floor(stage, url)
            same_c, change_c = counts(same), counts(change)
            results.append(
                {
                    "rows": counts(first)["kept"],
                    "mb": snapshot.stat().st_size / 1e6,
                    "parse_s": parse_s,
                    "parse_rss": parse_rss,
                    "first_s": first_s,
                    "first_rss": first_rss,
                    "floor_s": floor_s,
                    "same_s": same_s,
                    "same_rewritten": same_c["inserted"] + same_c["updated"],
                    "change_s": change_s,
                    "change_rewritten": change_c["inserted"] + change_c["updated"],
                    "peak_rss": max(first_rss, same_rss, change_rss),
                }
            )
            for p in (snapshot, changed, stage):
                p.unlink()
    print(
        f"{'rows':>9} {'MB':>6} {'parse s':>8} {'first s':>8} {'floor s':>8} {'x floor':>8} {'us/row':>7} "
        f"{'same s':>7} {'rewr':>5} {'1% s':>6} {'rewr':>6} {'peak MB':>8}"
    )
    for r in results:
        print(
            f"{r['rows']:>9,} {r['mb']:>6.0f} {r['parse_s']:>8.1f} {r['first_s']:>8.1f} {r['floor_s']:>8.1f} "
            f"{r['first_s'] / r['floor_s']:>8.2f} {r['first_s'] * 1e6 / r['rows']:>7.1f} {r['same_s']:>7.1f} "
            f"{r['same_rewritten']:>5} {r['change_s']:>6.1f} {r['change_rewritten']:>6,} {r['peak_rss']:>8.0f}"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
