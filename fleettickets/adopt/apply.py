"""Carrying the adoption out, in one transaction: the loader's objects set aside, this package's
schema built, every row carried, the grants and the tenants' views kept, nothing lost (checked)."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from fleettickets import catalog
from fleettickets import migrate as migrations
from fleettickets.adopt import objects
from fleettickets.adopt.facts import read_facts
from fleettickets.adopt.plan import LEDGER, RESOLVED, SEED_MAP_FUNCTION, SEED_TABLES, Facts, Plan, plan, unknown_values
from fleettickets.adopt.session import AdoptRefused, kept_name, session
from fleettickets.console import Reporter
from fleettickets.geocode.places import location_key, strip_codes
from fleettickets.snapshot import EAT

REFUSED = "cannot adopt"


@dataclass
class AdoptResult:
    kept_in: str
    applied: bool
    before: dict[str, int]
    after: dict[str, int]
    seconds: float = 0.0


def adopt(url: str, reporter: Reporter, *, apply: bool) -> AdoptResult:
    started = time.monotonic()
    with session(url, REFUSED) as conn:
        if catalog.is_ours(catalog.tables(conn, "tickets").get(LEDGER)):
            raise AdoptRefused(
                "the tickets schema is this package's already (its ledger is ours): run `fleettickets migrate`"
            )
        facts = read_facts(conn)
        p = plan(facts, kept_name(conn, datetime.now(EAT)))
        for line in p.lines:
            reporter.step(line)
        _refuse(p.refusals, reporter)
        result = AdoptResult(p.kept_in, apply, before={f"tickets.{t}": n for t, n in facts.rows.items()}, after={})
        _carry_out(conn, p, facts, reporter, result)
        if apply:
            conn.commit()
        else:
            conn.rollback()
    result.seconds = time.monotonic() - started
    return result


def _refuse(refusals: list[str], reporter: Reporter) -> None:
    for line in refusals:
        reporter.step(f"REFUSED  {line}")
    if refusals:
        more = f" (and {len(refusals) - 1} more, listed above)" if len(refusals) > 1 else ""
        raise AdoptRefused(f"{REFUSED}: {refusals[0]}{more}; nothing was changed")


def _carry_out(conn: psycopg.Connection, p: Plan, facts: Facts, reporter: Reporter, result: AdoptResult) -> None:
    kept = sql.Identifier(p.kept_in)
    # The loader's writers (its scheduled task, if still running) wait until the commit; readers do not.
    present = [t for t in SEED_TABLES if t in facts.tables]
    conn.execute(
        sql.SQL("LOCK TABLE {} IN SHARE MODE").format(
            sql.SQL(", ").join(sql.SQL("tickets.{}").format(sql.Identifier(t)) for t in present)
        )
    )
    conn.execute(sql.SQL("ALTER SCHEMA tickets RENAME TO {}").format(kept))
    old_views = {v: catalog.view_definition(conn, f"{p.kept_in}.{v}") for v in p.shared_views}
    old_grants = catalog.grants(conn, p.kept_in, SEED_MAP_FUNCTION)
    objects.move_functions(conn, "reporting", SEED_MAP_FUNCTION, p.kept_in)
    reporter.step(f"moved the earlier loader's objects to {p.kept_in}")
    built = migrations.apply_all(conn, migrations.discover(), Reporter(io.StringIO(), interactive=False))
    reporter.step(f"built this package's schema: {len(built.applied)} migration(s)")
    _refuse(unknown_values(_values(conn, p), catalog.enumerations(conn, "tickets")), reporter)
    _copy_rows(conn, p, facts)
    objects.grant_again(conn, old_grants, "reporting")
    result.after = {
        t: catalog.row_count(conn, "tickets", t.split(".", 1)[1]) for t in result.before if t != f"tickets.{LEDGER}"
    }
    result.after[f"tickets.{LEDGER}"] = result.before.get(f"tickets.{LEDGER}", 0)  # kept, and copied below
    _check(conn, p, facts, result)
    old_ledger = []
    if LEDGER in facts.tables:
        old_ledger = conn.execute(
            sql.SQL("SELECT coalesce(jsonb_agg(to_jsonb(l)), '[]') FROM {}.schema_migrations l").format(kept)
        ).fetchone()[0]
    conn.execute(
        "INSERT INTO tickets.adoptions (kept_in, old_ledger, row_counts, notes) VALUES (%s, %s, %s, %s)",
        (
            p.kept_in,
            Jsonb(old_ledger),
            Jsonb({t: {"before": n, "after": result.after.get(t)} for t, n in result.before.items()}),
            p.lines,
        ),
    )
    conn.execute("ANALYZE tickets.inc")
    # Last: re-pointing locks the view a tenant's view reads until the commit, so its readers wait
    # only for the commit itself. The loader's object takes the place of the fresh one; its old
    # definition is kept beside the old tables, reading them.
    for view in p.shared_views:
        objects.take_place(conn, p.kept_in, view)
        conn.execute(sql.SQL("CREATE VIEW {}.{} AS {}").format(kept, sql.Identifier(view), sql.SQL(old_views[view])))


def _values(conn: psycopg.Connection, p: Plan) -> dict[tuple[str, str], set[str]]:
    """The distinct values each enumerated column of this package's will receive, as carried."""
    found: dict[tuple[str, str], set[str]] = {}
    for (table, column), _ in catalog.enumerations(conn, "tickets").items():
        expr = p.selects.get(table, {}).get(column)
        if expr is None or expr == RESOLVED:
            continue
        query = sql.SQL("SELECT DISTINCT ({})::text FROM {}.{} o").format(
            sql.SQL(expr), sql.Identifier(p.kept_in), sql.Identifier(table)
        )
        found[(table, column)] = {r[0] for r in conn.execute(query) if r[0] is not None}
    return found


def _copy_rows(conn: psycopg.Connection, p: Plan, facts: Facts) -> None:
    kept = sql.Identifier(p.kept_in)
    conn.execute("CREATE TEMP TABLE adopt_keys (old text PRIMARY KEY, new text NOT NULL) ON COMMIT DROP")
    with conn.cursor().copy("COPY adopt_keys (old, new) FROM STDIN") as copy:
        for old, new in p.new_keys.items():
            copy.write_row((old, new))
    for table in (t for t in SEED_TABLES if t in p.selects):
        select = dict(p.selects[table])
        source = sql.SQL("{}.{} o").format(kept, sql.Identifier(table))
        if table in ("geo_locations", "geo_location_names"):  # this package's keys
            select["query"] = "k.new"
            source = sql.SQL("{} JOIN adopt_keys k ON k.old = o.query").format(source)
        resolved = [c for c, expr in select.items() if expr == RESOLVED]
        if resolved:
            source = sql.SQL("{} CROSS JOIN LATERAL tickets.resolve_geom({}) r").format(source, sql.SQL(select["raw"]))
            select.update({c: f"r.{c}" for c in resolved})
        if table == "inc":  # the positions are carried as they were: the trigger must not redo them
            _link_spellings(conn, sql.SQL("{}.inc o").format(kept), p.selects["inc"]["raw"])
            conn.execute("SELECT set_config('fleettickets.geom_resolved', 'on', true)")
        conn.execute(
            sql.SQL("INSERT INTO tickets.{} ({}) SELECT {} FROM {}").format(
                sql.Identifier(table),
                sql.SQL(", ").join(map(sql.Identifier, select)),
                sql.SQL(", ").join(sql.SQL(e) for e in select.values()),
                source,
            )
        )
        if table == "inc":
            conn.execute("SELECT set_config('fleettickets.geom_resolved', '', true)")
    # boto3 gives an ETag in quotes, as S3 sends it; this package keeps it bare (bucket.py) and
    # compares it so: the next run must see the loader's last file as unchanged.
    conn.execute(
        "UPDATE tickets.import_meta SET metadata = jsonb_set(metadata, '{source_etag}',"
        " to_jsonb(btrim(metadata ->> 'source_etag', '\"'))) WHERE metadata ->> 'source_etag' LIKE '\"%\"'"
    )
    # The loader's last load is its last check of the feed, as migration 18 took it for a
    # database that ingested before it.
    conn.execute(
        "INSERT INTO tickets.feed_check (dataset, checked_at, outcome, newest_key, newest_at)"
        " SELECT dataset, ingested_at, 'ingested', source_key, snapshot_at FROM tickets.import_meta"
    )


def _link_spellings(conn: psycopg.Connection, tickets: sql.Composable, raw: str) -> None:
    """Every location_name of the tickets that names a cached place, linked to it as a geocoding run
    links a new spelling (the loader matched names to places itself and kept no such table)."""
    keys = {r[0] for r in conn.execute("SELECT query FROM tickets.geo_locations")}
    links = []
    query = sql.SQL(
        "SELECT DISTINCT r ->> 'location_name', r ->> 'cluster' FROM (SELECT {} AS r FROM {}) t"
        " WHERE r ->> 'location_name' IS NOT NULL AND r ->> 'cluster' IS NOT NULL"
    ).format(sql.SQL(raw), tickets)
    for name, cluster in conn.execute(query):
        place = strip_codes(name)
        if place and (key := location_key(place, cluster)) in keys:
            links.append((name, cluster, key))
    if links:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO tickets.geo_location_names (location_name, cluster, query) VALUES (%s, %s, %s)"
                " ON CONFLICT (location_name, cluster) DO NOTHING",
                links,
            )


def _check(conn: psycopg.Connection, p: Plan, facts: Facts, result: AdoptResult) -> None:
    """Nothing lost: every table's rows, every verified point, every positioned ticket."""
    for table, before in result.before.items():
        if result.after.get(table) != before:
            after = result.after.get(table)
            raise AdoptRefused(f"{REFUSED}: {table}: {before:,} row(s) before, {after} after; nothing was changed")
    kept = sql.Identifier(p.kept_in)
    checks = []
    if "geom" in {c.name for c in facts.tables.get("inc", [])}:
        checks.append(
            (
                "positioned tickets",
                sql.SQL(
                    "SELECT count(*) FROM {}.inc o JOIN tickets.inc n USING (ticket_id)"
                    " WHERE o.geom IS NOT NULL AND NOT (n.geom::geometry = o.geom::geometry)"
                ).format(kept),
            )
        )
    for table, key in (("geo_clusters", "cluster"), ("geo_locations", "query")):
        columns = {c.name for c in facts.tables.get(table, [])}
        if {"verified", "geom"} <= columns:
            join = (
                "JOIN adopt_keys k ON k.old = o.query JOIN tickets.geo_locations n ON n.query = k.new"
                if key == "query"
                else "JOIN tickets.geo_clusters n USING (cluster)"
            )
            checks.append(
                (
                    f"verified points of tickets.{table}",
                    sql.SQL(
                        "SELECT count(*) FROM {}.{} o " + join + " WHERE o.verified"
                        " AND NOT (n.verified AND n.geom IS NOT DISTINCT FROM o.geom::geometry)"
                    ).format(kept, sql.Identifier(table)),
                )
            )
    for what, query in checks:
        changed = conn.execute(query).fetchone()[0]
        if changed:
            raise AdoptRefused(f"{REFUSED}: {what}: {changed:,} would change; nothing was changed")


def summary(result: AdoptResult) -> str:
    counts = ", ".join(f"{t} {n:,} -> {result.after.get(t, 0):,}" for t, n in result.before.items())
    if result.applied:
        return f"adopted: {counts}; the earlier loader's objects are kept in {result.kept_in} ({result.seconds:.1f} s)"
    return (
        f"dry run: would adopt {counts}; the earlier loader's objects would be kept in {result.kept_in};"
        " nothing was changed"
    )
