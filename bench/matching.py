"""Typo-tolerant reuse at scale: the matching step of a geocoding run (run._match), new against old.

Fills a migrated database with --clusters resolved clusters, --known resolved places spread over
them and --unknown places the provider could not find (a quarter misspellings of a known place of
the same cluster, a quarter a known name with a trailing word or number, the rest like nothing
known). Then it times the whole matching step and measures the peak memory (RSS) of its Python
process, each run in a fresh process on a fresh copy of the data; with the server on this machine,
also the CPU time of that process and its server process together, which other load on the machine
does not inflate:

- new: same-cluster pairs only, joined in the database, which sends back the pairs that can be
  chosen (tickets.name_similarity);
- old: every form against every known name of every cluster, the whole product sent to Python
  (the pairing before issue 26), run only where that product is at most --old-max-pairs: it grows
  with the square of the sizes (42.6 million pairs at the full size, gigabytes in Python).

The sizes are the full one and its 1/10, 1/4 and 1/2 (clusters scaled alike); at each, a line says
whether every run chose the same reuses. The new step runs --runs times at each size (the
median and the slowest are printed; the machine may be shared), the old one once. Prints the
figures; nothing is asserted.

    python bench/matching.py [--unknown 2000] [--known 20000] [--clusters 200] [--runs 5]
                             [--old-max-pairs 4000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ADMIN_URL, peak_rss_mb, throwaway_database, url_for
from fleettickets.geocode.places import GUARD_KM, Known, choose_match, fold, location_key, match_forms
from fleettickets.geocode.run import GeocodeResult, _match

SYLLABLES = [c + v for c in ("k", "l", "m", "n", "r", "s", "t", "w", "y", "mb", "nd", "ng") for v in "aeiou"]
TRAILING = ["Town", "Mall", "Stage", "2", "B"]


def place_name(rng: random.Random) -> str:
    words = [("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))).title()]
    if rng.random() < 0.2:
        words.append(("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))).title())
    return " ".join(words)


def misspelt(rng: random.Random, name: str) -> str:
    """One letter dropped, doubled or changed, inside the first word."""
    at = rng.randrange(1, max(2, len(name.split()[0]) - 1))
    kind = rng.randrange(3)
    if kind == 0:
        return name[:at] + name[at + 1 :]
    if kind == 1:
        return name[:at] + name[at] + name[at:]
    return name[:at] + rng.choice("aeiou") + name[at + 1 :]


def populate(url: str, unknown: int, known: int, clusters: int, seed: int = 1) -> None:
    """Clusters over Kenya, each known place within the guard of its cluster's point."""
    rng = random.Random(seed)
    cluster_rows, place_rows = [], []
    names: dict[int, list[str]] = {}
    for c in range(clusters):
        lng, lat = 34.5 + rng.random() * 5, -3.5 + rng.random() * 4
        cluster_rows.append((f"Cluster {c}", lng, lat))
        names[c] = sorted({place_name(rng) for _ in range(known // clusters)})
        for name in names[c]:
            place_rows.append((name, f"Cluster {c}", "ok", lng + rng.uniform(-0.1, 0.1), lat + rng.uniform(-0.1, 0.1)))
    for u in range(unknown):
        c = u % clusters
        draw = rng.random()
        if draw < 0.25:
            name = misspelt(rng, rng.choice(names[c]))
        elif draw < 0.5:
            name = f"{rng.choice(names[c])} {rng.choice(TRAILING)}"
        else:
            name = place_name(rng)
        place_rows.append((name, f"Cluster {c}", "not_found", None, None))
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO tickets.geo_clusters (cluster, query, provider, status, geom)"
                " VALUES (%s, %s, 'bench', 'ok', ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                [(name, name, lng, lat) for name, lng, lat in cluster_rows],
            )
            with cur.copy(
                "COPY tickets.geo_locations (query, place, cluster, provider, status, geom) FROM STDIN"
            ) as copy:
                seen: set[str] = set()
                for place, cluster, status, lng, lat in place_rows:
                    key = location_key(place, cluster)
                    if key in seen:  # a generated unknown name that is a known one: skip it
                        continue
                    seen.add(key)
                    point = f"SRID=4326;POINT({lng} {lat})" if lng is not None else None
                    copy.write_row((key, place, cluster, "locationiq", status, point))
        conn.execute("ANALYZE")


def old_match(conn: psycopg.Connection, guard_km: float) -> int:
    """The matching step with the pairing it had before issue 26: every form against every known
    name of every cluster, the product sent to Python (choices and saves as now)."""
    open_ = conn.execute("SELECT query, place, cluster FROM tickets.places_to_match").fetchall()
    known: dict[str, list[Known]] = {}
    for cluster, key, place in conn.execute("SELECT * FROM tickets.reusable_places(%s)", (guard_km,)):
        known.setdefault(cluster, []).append(Known(key, place))
    wanted = [(key, place, cluster) for key, place, cluster in open_ if cluster in known]
    forms = sorted({f for _, place, _ in wanted for f in match_forms(place)})
    names = sorted({k.name for ks in known.values() for k in ks})
    scores = {
        (n, k): s
        for n, k, s in conn.execute(
            "SELECT n, k, similarity(n, k) FROM unnest(%s::text[]) n CROSS JOIN unnest(%s::text[]) k", (forms, names)
        )
    }
    chosen = {}
    for key, place, cluster in wanted:
        if match := choose_match(place, known[cluster], lambda a, b: scores[(a, b)]):
            chosen[key] = match
    saved = conn.execute(
        "SELECT * FROM tickets.save_matches(%s, %s, %s)",
        ([*chosen], [m.known.key for m in chosen.values()], [m.detail for m in chosen.values()]),
    ).fetchall()
    conn.commit()
    return len(saved)


def cpu_seconds(conn: psycopg.Connection) -> float | None:
    """CPU time of this process and of the connection's server process (when the server is on this
    machine): what the step costs whatever else the machine is doing."""
    if conn.info.host not in ("127.0.0.1", "localhost", "::1") and not conn.info.host.startswith("/"):
        return None
    try:
        fields = Path(f"/proc/{conn.info.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def step(approach: str, url: str) -> None:
    """One matching step in this (fresh) process: prints its figures as JSON."""
    with psycopg.connect(url) as conn:
        conn.execute("SELECT 1")
        before = peak_rss_mb()
        cpu = cpu_seconds(conn)
        started = time.perf_counter()
        if approach == "new":
            result = GeocodeResult("locations")
            _match(conn, result, GUARD_KM)
            matched = result.matched
        else:
            matched = old_match(conn, GUARD_KM)
        seconds = time.perf_counter() - started
        cpu = None if cpu is None else cpu_seconds(conn) - cpu
        peak = peak_rss_mb()
        chosen = conn.execute(
            "SELECT query, match_of FROM tickets.geo_locations WHERE provider = 'match' ORDER BY 1"
        ).fetchall()
    print(
        json.dumps(
            {"seconds": seconds, "cpu": cpu, "before": before, "peak": peak, "matched": matched, "chosen": chosen}
        )
    )


@contextmanager
def copy_of(url: str) -> Iterator[str]:
    """A fresh copy of a database (CREATE DATABASE ... TEMPLATE), dropped afterwards."""
    source = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    name = f"fleettickets_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {source}")
    try:
        yield url_for(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def measure(approach: str, url: str) -> dict:
    with copy_of(url) as copy:
        out = subprocess.run(
            [sys.executable, __file__, "--step", approach, "--url", copy], check=True, capture_output=True, text=True
        ).stdout
    return json.loads(out)


def pairs(url: str) -> tuple[int, int, int, int, int]:
    """(unknown places, known places, forms, pairs of the same cluster, pairs of every cluster): what
    the step compares."""
    with psycopg.connect(url) as conn:
        known: dict[str, set[str]] = {}
        places = 0
        for cluster, _, place in conn.execute("SELECT * FROM tickets.reusable_places(%s)", (GUARD_KM,)):
            known.setdefault(cluster, set()).add(fold(place))
            places += 1
        forms: dict[str, set[str]] = {}
        wanted = conn.execute("SELECT query, place, cluster FROM tickets.places_to_match").fetchall()
        for _, place, cluster in wanted:
            forms.setdefault(cluster, set()).update(match_forms(place))
    all_forms = set().union(*forms.values())
    all_names = set().union(*known.values())
    same = sum(len(f) * len(known.get(c, ())) for c, f in forms.items())
    return len(wanted), places, len(all_forms), same, len(all_forms) * len(all_names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unknown", type=int, default=2000)
    parser.add_argument("--known", type=int, default=20000)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--old-max-pairs", type=int, default=4_000_000)
    parser.add_argument("--step", choices=["new", "old"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step(args.step, args.url)
        return
    for share in (10, 4, 2, 1):
        clusters = max(1, args.clusters // share)
        with throwaway_database() as url:
            populate(url, args.unknown // share, args.known // share, clusters)
            unknown, known, forms, same, every = pairs(url)
            print(
                f"{unknown:,} unknown places ({forms:,} forms) against {known:,} known in {clusters} clusters:"
                f" {same:,} pairs of the same cluster, {every:,} of every cluster",
                flush=True,
            )
            figures = {"new": [measure("new", url) for _ in range(args.runs)]}
            if every <= args.old_max_pairs:
                figures["old"] = [measure("old", url)]
        for approach, runs in figures.items():
            seconds = sorted(r["seconds"] for r in runs)
            spread = f" (slowest of {len(runs)}: {seconds[-1]:.2f} s)" if len(runs) > 1 else ""
            if runs[0]["cpu"] is not None:
                spread += f", CPU {statistics.median(r['cpu'] for r in runs):.2f} s"
            top = max(runs, key=lambda r: r["peak"])
            print(
                f"  {approach}: {statistics.median(seconds):.2f} s{spread}, peak RSS {top['peak']:.0f} MB"
                f" (+{top['peak'] - top['before']:.0f} MB in the step), {runs[0]['matched']:,} reuses",
                flush=True,
            )
        if "old" not in figures:
            print("  old: not run (its product is over --old-max-pairs)")
        choices = {json.dumps(r["chosen"]) for runs in figures.values() for r in runs}
        print("  every run chose the same reuses" if len(choices) == 1 else "  RUNS CHOSE DIFFERENT REUSES", flush=True)


if __name__ == "__main__":
    main()
