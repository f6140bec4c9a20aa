"""Carrying the adoption out, in one transaction: the loader's objects set aside, this package's
schema built, every row carried, the migrations' data fixes run on them, the grants and the
tenants' views kept, nothing lost (checks.py)."""

from __future__ import annotations

import io
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from fleettickets import catalog
from fleettickets import migrate as migrations
from fleettickets.adopt import objects
from fleettickets.adopt.checks import check
from fleettickets.adopt.facts import read_facts
from fleettickets.adopt.plan import (
    LEDGER,
    RESOLVED,
    SEED_MAP_FUNCTION,
    SEED_TABLES,
    TICKET_TABLES,
    Plan,
    plan,
    unknown_values,
)
from fleettickets.adopt.session import ADOPT_REFUSED, AdoptRefused, kept_name, session
from fleettickets.console import Reporter
from fleettickets.snapshot import EAT


@dataclass
class AdoptResult:
    kept_in: str
    applied: bool
    before: dict[str, int]
    after: dict[str, int]
    seconds: float = 0.0


def adopt(url: str, reporter: Reporter, *, apply: bool, leave: Collection[str] = ()) -> AdoptResult:
    """Plan, and with `apply` carry out, the take-over. `leave`: the filled columns with no place
    here (tickets.TABLE.COLUMN) that the operator agrees to leave in the kept schema."""
    started = time.monotonic()
    with session(url, ADOPT_REFUSED) as conn:
        found = catalog.tables(conn, "tickets")
        if catalog.is_ours(found.get(LEDGER)):
            raise AdoptRefused(
                "the tickets schema is this package's already (its ledger is ours): run `fleettickets migrate`"
            )
        if not found.keys() - {LEDGER}:
            raise AdoptRefused(
                "there is nothing to adopt: the database holds no tables of the earlier loader (no tickets schema,"
                " or an empty one); `fleettickets migrate` builds this package's schema in it"
            )
        facts = read_facts(conn)
        p = plan(facts, kept_name(conn, datetime.now(EAT)), leave)
        for line in p.lines:
            reporter.step(line)
        _refuse(p.refusals, reporter)
        result = AdoptResult(p.kept_in, apply, before={f"tickets.{t}": n for t, n in facts.rows.items()}, after={})
        _carry_out(conn, p, reporter, result)
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
        raise AdoptRefused(f"{ADOPT_REFUSED}: {refusals[0]}{more}; nothing was changed")


def _carry_out(conn: psycopg.Connection, p: Plan, reporter: Reporter, result: AdoptResult) -> None:
    kept = sql.Identifier(p.kept_in)
    # The loader's writers (its scheduled task, if still running) wait until the commit; readers do not.
    conn.execute(
        sql.SQL("LOCK TABLE {} IN SHARE MODE").format(
            sql.SQL(", ").join(sql.SQL("tickets.{}").format(sql.Identifier(t)) for t in p.selects)
        )
    )
    conn.execute(sql.SQL("ALTER SCHEMA tickets RENAME TO {}").format(kept))
    old_views = {v: catalog.view_definition(conn, f"{p.kept_in}.{v}") for v in p.shared_views}
    old_grants = catalog.grants(conn, p.kept_in, SEED_MAP_FUNCTION)
    objects.move_functions(conn, "reporting", SEED_MAP_FUNCTION, p.kept_in)
    reporter.step(f"moved the earlier loader's objects to {p.kept_in}")
    built = migrations.apply_all(conn, migrations.discover(), Reporter(io.StringIO(), interactive=False))
    reporter.step(f"built this package's schema: {len(built.applied)} migration(s)")
    _keys(conn, p)
    _refuse(unknown_values(_values(conn, p), catalog.enumerations(conn, "tickets")), reporter)
    _copy_rows(conn, p)
    objects.grant_again(conn, old_grants, "reporting")
    result.after = {t: catalog.row_count(conn, "tickets", t.split(".", 1)[1]) for t in result.before}
    result.after[f"tickets.{LEDGER}"] = result.before.get(f"tickets.{LEDGER}", 0)  # kept, and copied below
    check(conn, p, result.before, result.after)
    fixes = catalog.data_fixes(conn)
    for fix in fixes:
        conn.execute(sql.SQL("SELECT {}()").format(sql.Identifier(*fix.split("."))))
    reporter.step(f"ran the migrations' data fixes on the rows carried: {', '.join(fixes) or 'none'}")
    old_ledger = []
    if f"tickets.{LEDGER}" in result.before:
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


def _source(p: Plan, table: str) -> sql.Composable:
    """The old rows of `table`, as `o`, with what the plan joins them to."""
    return sql.SQL("{}.{} o {}").format(
        sql.Identifier(p.kept_in), sql.Identifier(table), sql.SQL(p.joins.get(table, ""))
    )


def _values(conn: psycopg.Connection, p: Plan) -> dict[tuple[str, str], set[str]]:
    """The distinct values each column of this package's whose CHECK lists them will receive."""
    found: dict[tuple[str, str], set[str]] = {}
    for table, column in catalog.enumerations(conn, "tickets"):
        expr = p.selects.get(table, {}).get(column)
        if expr is None or expr == RESOLVED:
            continue
        query = sql.SQL("SELECT DISTINCT ({})::text FROM {}").format(sql.SQL(expr), _source(p, table))
        found[(table, column)] = {r[0] for r in conn.execute(query) if r[0] is not None}
    return found


def _keys(conn: psycopg.Connection, p: Plan) -> None:
    """adopt_keys: each location entry's old key with this package's, its place and its cluster."""
    conn.execute(
        "CREATE TEMP TABLE adopt_keys (old text PRIMARY KEY, new text NOT NULL, place text NOT NULL,"
        " cluster text NOT NULL) ON COMMIT DROP"
    )
    with conn.cursor().copy("COPY adopt_keys (old, new, place, cluster) FROM STDIN") as copy:
        for location in p.locations:
            copy.write_row((location.old, location.new, location.place, location.cluster))


def _copy_rows(conn: psycopg.Connection, p: Plan) -> None:
    for table in (t for t in SEED_TABLES if t in p.selects):
        select = dict(p.selects[table])
        source = _source(p, table)
        resolved = [c for c, expr in select.items() if expr == RESOLVED]
        if resolved:
            source = sql.SQL("{} CROSS JOIN LATERAL tickets.resolve_geom({}) r").format(source, sql.SQL(select["raw"]))
            select.update({c: f"r.{c}" for c in resolved})
        if table == TICKET_TABLES[0]:  # the gazetteers are in (SEED_TABLES' order): link both datasets'
            _link_spellings(conn, p.spellings)  # spellings before a ticket's position is resolved
        if table == "inc":  # the positions are carried as they were: the trigger must not redo them
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


def _link_spellings(conn: psycopg.Connection, spellings: list[tuple[str, str, str]]) -> None:
    """Every location_name of the tickets (INC's and CRQ's) that names a cached place, linked to it
    as a geocoding run links a new spelling (the loader matched names to places itself and kept no
    such table)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO tickets.geo_location_names (location_name, cluster, query) VALUES (%s, %s, %s)"
            " ON CONFLICT (location_name, cluster) DO NOTHING",
            spellings,
        )


def summary(result: AdoptResult) -> str:
    counts = ", ".join(f"{t} {n:,} -> {result.after.get(t, 0):,}" for t, n in result.before.items())
    if result.applied:
        return f"adopted: {counts}; the earlier loader's objects are kept in {result.kept_in} ({result.seconds:.1f} s)"
    return (
        f"dry run: would adopt {counts}; the earlier loader's objects would be kept in {result.kept_in};"
        " nothing was changed"
    )
