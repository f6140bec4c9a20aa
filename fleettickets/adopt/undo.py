"""The way back from an adoption: drop the schema it kept once the operator is satisfied, or undo
it, the earlier loader's objects returning where they were."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg import sql

from fleettickets import catalog
from fleettickets import migrate as migrations
from fleettickets.adopt import objects
from fleettickets.adopt.plan import LEDGER, SEED_MAP_FUNCTION, SHARED_VIEWS
from fleettickets.adopt.session import SET_ASIDE_PREFIX, AdoptRefused, kept_name, session
from fleettickets.console import Reporter
from fleettickets.snapshot import EAT


def drop_kept(url: str, kept_in: str, reporter: Reporter) -> None:
    """Remove the schema an adoption kept, once the operator is satisfied: refused while anything
    outside it (another tenant's view, say) still depends on an object in it."""
    with session(url, f"cannot drop {kept_in}") as conn:
        _check_kept(conn, kept_in)
        found = catalog.foreign_dependants(conn, [kept_in], frozenset())
        if found:
            named = "; ".join(f"{d.dependant} depends on {d.on}" for d in found)
            raise AdoptRefused(f"cannot drop {kept_in}: {named}; nothing was dropped")
        # CASCADE reaches only the schema's own objects: nothing outside it depends on them (above).
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(kept_in)))
        conn.execute("UPDATE tickets.adoptions SET dropped_at = now() WHERE kept_in = %s", (kept_in,))
        conn.commit()
    reporter.step(f"dropped {kept_in}, the earlier loader's objects kept by the adoption")


def _check_kept(conn: psycopg.Connection, kept_in: str) -> None:
    """kept_in is the schema an adoption of this database kept, and still there."""
    migrations.ensure_current(conn)
    row = conn.execute("SELECT dropped_at FROM tickets.adoptions WHERE kept_in = %s", (kept_in,)).fetchone()
    if row is None:
        raise AdoptRefused(f"{kept_in} is not a schema kept by an adoption (see tickets.adoptions)")
    if row[0] is not None or not catalog.schema_exists(conn, kept_in):
        raise AdoptRefused(f"{kept_in} was dropped already")


def undo(url: str, kept_in: str, reporter: Reporter) -> str:
    """The way back: the earlier loader's objects where they were before the adoption, this package's
    set aside whole in tickets_replaced_YYYYMMDD (what it loaded and verified since is there). One
    transaction; refused, naming each, while another tenant's object depends on this package's
    (but for the loader's views it re-pointed, which are handed back to the loader's tables)."""
    with session(url, "cannot undo the adoption") as conn:
        _check_kept(conn, kept_in)
        ours = catalog.reporting_names(migrations.migrations_dir())
        shared = {f"tickets.{v}" for v in SHARED_VIEWS}
        found = [
            d
            for d in catalog.foreign_dependants(conn, ["tickets", kept_in], ours)
            if not d.on.startswith(f"{kept_in}.") and d.on not in shared
        ]
        if found:
            named = "; ".join(f"{d.dependant} depends on {d.on}" for d in found)
            raise AdoptRefused(f"cannot undo the adoption: {named}; nothing was changed")
        aside = kept_name(conn, datetime.now(EAT), SET_ASIDE_PREFIX)
        since = _hand_back(conn, kept_in, aside, ours)
        conn.commit()
    reporter.step(f"the earlier loader's objects are back in tickets and reporting ({kept_in} is gone)")
    return (
        f"undone: this package's objects are set aside in {aside} ({since:,} ticket(s) there);"
        " the earlier loader reads only full snapshots at the prefix, not the files this package archived"
    )


def _hand_back(conn: psycopg.Connection, kept_in: str, aside: str, ours: frozenset[str]) -> int:
    kept, moved = sql.Identifier(kept_in), sql.Identifier(aside)
    tables = [t for t in catalog.tables(conn, "tickets") if t != LEDGER]
    conn.execute(  # this package's writers wait until the commit; readers do not
        sql.SQL("LOCK TABLE {} IN SHARE MODE").format(
            sql.SQL(", ").join(sql.SQL("tickets.{}").format(sql.Identifier(t)) for t in tables)
        )
    )
    since = catalog.row_count(conn, "tickets", "inc")
    shared = [v for v in SHARED_VIEWS if conn.execute("SELECT to_regclass(%s)", (f"{kept_in}.{v}",)).fetchone()[0]]
    conn.execute(sql.SQL("ALTER SCHEMA tickets RENAME TO {}").format(moved))
    for kind, name in catalog.movable_objects(conn, "reporting", ours):
        conn.execute(sql.SQL("ALTER {} {} SET SCHEMA {}").format(sql.SQL(kind), sql.SQL(name), moved))
    conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO tickets").format(kept))
    objects.move_functions(conn, "tickets", SEED_MAP_FUNCTION, "reporting")
    for view in shared:  # the object a tenant's view reads gets the loader's definition back
        objects.take_place(conn, aside, view)
    return since
