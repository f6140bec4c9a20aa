"""What the database holds, read from its catalog: the tables of a schema and their columns, whose
ledger it is, and which objects of other tenants depend on ours (pg_depend). Used by migrate (to
refuse a database it did not build) and by adopt (to take over the earlier loader's)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import psycopg

# The columns of this package's ledger since its first release (issue 14 added `type`).
OUR_LEDGER_COLUMNS = frozenset({"version", "name", "script", "checksum"})
_DEFINITION = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|VIEW|TABLE|TYPE)\s+(?:IF\s+NOT\s+EXISTS\s+)?reporting\.([a-z_][a-z0-9_]*)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type(): `text`, `geometry(Point,4326)`, ...
    generated: bool


@dataclass(frozen=True)
class Dependant:
    dependant: str  # schema-qualified: `reporting.v_dispatch_board`
    kind: str  # view, function, table, ...
    on: str  # what it depends on: `tickets.inc_open_sla`


def tables(conn: psycopg.Connection, schema: str) -> dict[str, list[Column]]:
    """The ordinary tables of `schema` with their columns, in column order."""
    rows = conn.execute(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated <> ''
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
         ORDER BY c.relname, a.attnum
        """,
        (schema,),
    ).fetchall()
    found: dict[str, list[Column]] = {}
    for table, name, type_, generated in rows:
        columns = found.setdefault(table, [])
        if name is not None:
            columns.append(Column(name, type_, generated))
    return found


def is_ours(ledger: list[Column] | None) -> bool:
    return ledger is not None and {c.name for c in ledger} >= OUR_LEDGER_COLUMNS


def not_ours(conn: psycopg.Connection) -> str | None:
    """None when the tickets schema is empty or migrated by this package; else what is there, for
    a one-line refusal: the tables, and the ledger they came with."""
    found = tables(conn, "tickets")
    ledger = found.pop("schema_migrations", None)
    if not found or is_ours(ledger):
        return None
    names = ", ".join(f"tickets.{t}" for t in sorted(found))
    if ledger is None:
        return f"{names} and no migration ledger"
    return f"{names} and a ledger of another shape (tickets.schema_migrations: {', '.join(c.name for c in ledger)})"


@cache
def reporting_names(directory: Path) -> frozenset[str]:
    """The objects this package defines in the shared `reporting` schema, by name, from its own
    migration files: everything else there belongs to another tenant."""
    return frozenset(
        name.lower() for path in directory.glob("*.sql") for name in _DEFINITION.findall(path.read_text("utf-8-sig"))
    )


# Each dependency on an object of `schemas` or on one of our `reporting` objects, seen from the
# dependant's side: a view through its rewrite rule, a constraint, trigger or default through its table.
DEPENDANTS = """
WITH ours AS (
    SELECT 'pg_class'::regclass AS classid, c.oid AS objid FROM pg_class c
     WHERE c.relnamespace::regnamespace::text = ANY (%(schemas)s)
        OR (c.relnamespace::regnamespace::text = 'reporting' AND c.relname = ANY (%(reporting)s))
    UNION ALL
    SELECT 'pg_proc'::regclass, p.oid FROM pg_proc p
     WHERE p.pronamespace::regnamespace::text = ANY (%(schemas)s)
        OR (p.pronamespace::regnamespace::text = 'reporting' AND p.proname = ANY (%(reporting)s))
    UNION ALL
    SELECT 'pg_type'::regclass, t.oid FROM pg_type t
     WHERE t.typnamespace::regnamespace::text = ANY (%(schemas)s)
        OR (t.typnamespace::regnamespace::text = 'reporting' AND t.typname = ANY (%(reporting)s))
), edges AS (
    SELECT d.refclassid, d.refobjid, d.refobjsubid,
           CASE d.classid
               WHEN 'pg_rewrite'::regclass THEN (SELECT r.ev_class FROM pg_rewrite r WHERE r.oid = d.objid)
               WHEN 'pg_constraint'::regclass THEN (SELECT k.conrelid FROM pg_constraint k WHERE k.oid = d.objid)
               WHEN 'pg_trigger'::regclass THEN (SELECT g.tgrelid FROM pg_trigger g WHERE g.oid = d.objid)
               WHEN 'pg_attrdef'::regclass THEN (SELECT a.adrelid FROM pg_attrdef a WHERE a.oid = d.objid)
               WHEN 'pg_class'::regclass THEN d.objid
           END AS rel,
           CASE WHEN d.classid = 'pg_proc'::regclass THEN d.objid END AS proc
      FROM pg_depend d JOIN ours o ON o.classid = d.refclassid AND o.objid = d.refobjid
     WHERE d.deptype = 'n'
), named AS (
    SELECT coalesce(c.relnamespace, p.pronamespace)::regnamespace::text AS schema,
           coalesce(c.relname, p.proname) AS name,
           CASE WHEN e.proc IS NOT NULL THEN 'function'
                ELSE (pg_identify_object('pg_class'::regclass, e.rel, 0)).type END AS kind,
           CASE WHEN e.proc IS NOT NULL THEN (pg_identify_object('pg_proc'::regclass, e.proc, 0)).identity
                ELSE (pg_identify_object('pg_class'::regclass, e.rel, 0)).identity END AS dependant,
           (pg_identify_object(e.refclassid, e.refobjid, 0)).identity AS referenced
      FROM edges e
      LEFT JOIN pg_class c ON c.oid = e.rel
      LEFT JOIN pg_proc p ON p.oid = e.proc
     WHERE e.rel IS NOT NULL OR e.proc IS NOT NULL
)
SELECT DISTINCT dependant, kind, referenced
  FROM named
 WHERE NOT (schema = ANY (%(schemas)s)) AND NOT (schema = 'reporting' AND name = ANY (%(reporting)s))
 ORDER BY 1, 3
"""


def foreign_dependants(conn: psycopg.Connection, schemas: list[str], reporting: frozenset[str]) -> list[Dependant]:
    """Objects outside `schemas` and outside this package's `reporting` objects (by name) that
    depend on one of those: another tenant's views, say."""
    rows = conn.execute(DEPENDANTS, {"schemas": schemas, "reporting": sorted(reporting)}).fetchall()
    return [Dependant(*row) for row in rows]
