"""What the database holds, read from its catalog: the tables of a schema and their columns, whose
ledger it is, which objects of other tenants depend on ours (pg_depend), the values a CHECK allows,
the grants other roles hold. Used by migrate (to refuse a database it did not build) and by the
take-over (fleettickets.adopt) of the earlier loader's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import psycopg
from psycopg import sql

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


def schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (schema,)).fetchone()[0]


def row_count(conn: psycopg.Connection, schema: str, table: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    return conn.execute(query).fetchone()[0]


def filled(conn: psycopg.Connection, schema: str, table: str, columns: list[str]) -> dict[str, int]:
    """How many rows have a value in each of `columns` (one scan of the table)."""
    if not columns:
        return {}
    query = sql.SQL("SELECT {} FROM {}.{}").format(
        sql.SQL(", ").join(sql.SQL("count({})").format(sql.Identifier(c)) for c in columns),
        sql.Identifier(schema),
        sql.Identifier(table),
    )
    return dict(zip(columns, conn.execute(query).fetchone(), strict=True))


_ENUMERATION = re.compile(r"^CHECK \(\(\(?(\w+)\)? = ANY \(\(?ARRAY\[(.*)\]\)?\)\)\)$")
_LITERAL = re.compile(r"'((?:[^']|'')*)'::text")


def enumerations(conn: psycopg.Connection, schema: str) -> dict[tuple[str, str], frozenset[str]]:
    """(table, column) -> the values its CHECK allows, for each column whose CHECK lists them
    (`CHECK (status IN ('ok', 'not_found', ...))`)."""
    rows = conn.execute(
        """
        SELECT c.relname, a.attname, pg_get_constraintdef(k.oid)
          FROM pg_constraint k
          JOIN pg_class c ON c.oid = k.conrelid
          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
         WHERE k.contype = 'c' AND c.relnamespace = %s::regnamespace AND cardinality(k.conkey) = 1
        """,
        (schema,),
    ).fetchall()
    found: dict[tuple[str, str], frozenset[str]] = {}
    for table, column, definition in rows:
        match = _ENUMERATION.match(definition)
        if match and match.group(1) == column:
            found[(table, column)] = frozenset(v.replace("''", "'") for v in _LITERAL.findall(match.group(2)))
    return found


@contextmanager
def qualified(conn: psycopg.Connection) -> Iterator[None]:
    """Inside the block the catalog prints every name schema-qualified (a view's definition, a
    function's signature): search_path is pg_catalog alone, then what it was."""
    path = conn.execute("SELECT current_setting('search_path')").fetchone()[0]
    conn.execute("SELECT set_config('search_path', 'pg_catalog', true)")
    try:
        yield
    finally:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
            conn.execute("SELECT set_config('search_path', %s, true)", (path,))


def view_definition(conn: psycopg.Connection, view: str) -> str:
    with qualified(conn):
        return conn.execute("SELECT pg_get_viewdef(%s::regclass)", (view,)).fetchone()[0]


def functions(conn: psycopg.Connection, schema: str, name: str) -> list[str]:
    """Every function `schema.name`, by its schema-qualified signature (`reporting.f(boolean)`)."""
    if not schema_exists(conn, schema):
        return []
    with qualified(conn):
        rows = conn.execute(
            "SELECT oid::regprocedure::text FROM pg_proc WHERE pronamespace = %s::regnamespace AND proname = %s"
            " ORDER BY 1",
            (schema, name),
        ).fetchall()
    return [r[0] for r in rows]


def extensions_in(conn: psycopg.Connection, schema: str) -> list[str]:
    return [
        r[0] for r in conn.execute("SELECT extname FROM pg_extension WHERE extnamespace = %s::regnamespace", (schema,))
    ]


def loose_objects(conn: psycopg.Connection, schema: str) -> list[str]:
    """The views, sequences and functions of `schema` that no table owns (an identity or serial
    column's sequence goes with its table)."""
    rows = conn.execute(
        """
        SELECT (pg_identify_object('pg_class'::regclass, c.oid, 0)).identity FROM pg_class c
         WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ('v', 'm', 'S')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                                       AND d.deptype IN ('a', 'i'))
        UNION ALL
        SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = %(schema)s::regnamespace
        ORDER BY 1
        """,
        {"schema": schema},
    ).fetchall()
    return [r[0] for r in rows]


def named_like(conn: psycopg.Connection, schema: str, names: frozenset[str], but: str) -> list[str]:
    """The relations, functions (but `but`) and types of `schema` that bear one of `names`."""
    if not schema_exists(conn, schema):
        return []
    rows = conn.execute(
        """
        SELECT %(schema)s || '.' || relname FROM pg_class
         WHERE relnamespace = %(schema)s::regnamespace AND relname = ANY (%(names)s) AND relkind <> 'i'
        UNION
        SELECT %(schema)s || '.' || proname FROM pg_proc
         WHERE pronamespace = %(schema)s::regnamespace AND proname = ANY (%(names)s) AND proname <> %(but)s
        UNION
        SELECT %(schema)s || '.' || typname FROM pg_type
         WHERE typnamespace = %(schema)s::regnamespace AND typname = ANY (%(names)s) AND typrelid = 0
        ORDER BY 1
        """,
        {"schema": schema, "names": sorted(names), "but": but},
    ).fetchall()
    return [r[0] for r in rows]


def movable_objects(conn: psycopg.Connection, schema: str, names: frozenset[str]) -> list[tuple[str, str]]:
    """(kind, schema-qualified name) of each object of `schema` named one of `names`, as
    `ALTER <kind> <name> SET SCHEMA ...` moves it (a table's row type goes with its table)."""
    with qualified(conn):
        return conn.execute(
            """
            SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                   c.oid::regclass::text
              FROM pg_class c
             WHERE c.relnamespace = %(schema)s::regnamespace AND c.relname = ANY (%(names)s)
               AND c.relkind IN ('r', 'p', 'v', 'm')
            UNION ALL
            SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
                   p.oid::regprocedure::text
              FROM pg_proc p WHERE p.pronamespace = %(schema)s::regnamespace AND p.proname = ANY (%(names)s)
            UNION ALL
            SELECT 'TYPE', t.oid::regtype::text
              FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
             WHERE t.typnamespace = %(schema)s::regnamespace AND t.typname = ANY (%(names)s)
               AND (t.typrelid = 0 OR c.relkind = 'c') AND t.typelem = 0
            """,
            {"schema": schema, "names": sorted(names)},
        ).fetchall()


@dataclass(frozen=True)
class Grant:
    kind: str  # SCHEMA, TABLE (views too) or FUNCTION
    name: str | None  # the table's or function's name; None for the schema itself
    grantee: str | None  # None: PUBLIC
    privilege: str  # SELECT, USAGE, EXECUTE, ...
    grantable: bool


def grants(conn: psycopg.Connection, schema: str, function: str) -> list[Grant]:
    """What other roles than the owner may do with `schema`, its tables and views, and its
    functions named `function`."""
    rows = conn.execute(
        """
        SELECT 'SCHEMA', NULL, a.grantee, a.privilege_type, a.is_grantable
          FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = %(schema)s AND a.grantee <> n.nspowner
        UNION ALL
        SELECT 'TABLE', c.relname, a.grantee, a.privilege_type, a.is_grantable
          FROM pg_class c, aclexplode(c.relacl) a
         WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
           AND a.grantee <> c.relowner
        UNION ALL
        SELECT 'FUNCTION', p.proname, a.grantee, a.privilege_type, a.is_grantable
          FROM pg_proc p, aclexplode(p.proacl) a
         WHERE p.pronamespace = %(schema)s::regnamespace AND p.proname = %(function)s AND a.grantee <> p.proowner
        """,
        {"schema": schema, "function": function},
    ).fetchall()
    return [
        Grant(kind, name, _role(conn, grantee), privilege, grantable)
        for kind, name, grantee, privilege, grantable in rows
    ]


def _role(conn: psycopg.Connection, oid: int) -> str | None:
    if oid == 0:
        return None
    return conn.execute("SELECT rolname FROM pg_roles WHERE oid = %s", (oid,)).fetchone()[0]


_DATA_FIX = re.compile(r"^data_fix_(\d+)_\w+$")


def data_fixes(conn: psycopg.Connection) -> list[str]:
    """The data fixes the migrations define (`tickets.data_fix_NN_name()`, docs/migrations.md), in
    migration order."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT proname FROM pg_proc WHERE pronamespace = 'tickets'::regnamespace AND pronargs = 0"
            " AND starts_with(proname, 'data_fix_')"
        )
    ]
    found = [(int(m.group(1)), name) for name in names if (m := _DATA_FIX.match(name))]
    return [f"tickets.{name}" for _, name in sorted(found)]
