"""Taking over the earlier loader's database: `fleettickets migrate --adopt [--dry-run]`.

The seed README's loader left a `tickets` schema (tickets.inc, tickets.crq, both gazetteers,
tickets.import_meta, a ledger keyed its own way) and reporting.fn_tickets_for_map in a database
shared with other applications. Adoption, in one transaction:

1. reads the catalog and plans: each table and column the seed README documents is mapped onto
   this package's schema (plan(), pure); anything that cannot be carried without loss refuses the
   whole adoption, naming it, before anything is written;
2. renames the loader's schema to tickets_adopted_YYYYMMDD (its tables stay whole and readable
   there: the way back) and moves its map function beside them; other sessions go on seeing the
   old schema until the commit, so the map keeps answering;
3. builds this package's schema exactly as a fresh `migrate` does, carries every row over (the
   gazetteer keys re-derived by this package's rule, verified points as they were, each ticket's
   position as it was) and the grants other roles had;
4. re-points the loader's views that other tenants' views read (tickets.inc_open_sla) at the new
   tables, keeping the object they depend on, when the new definition keeps its columns;
   a dependant that would break or keep reading an old table refuses the adoption instead;
5. checks the counts and the verified points, records itself in tickets.adoptions, commits (or,
   for a dry run, rolls everything back).
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from fleettickets import catalog, db
from fleettickets import migrate as migrations
from fleettickets.catalog import Column, Dependant
from fleettickets.console import Reporter
from fleettickets.errors import FleetError, MigrationError
from fleettickets.geocode.places import location_key, strip_codes
from fleettickets.snapshot import EAT

KEPT_PREFIX = "tickets_adopted_"
SEED_MAP_FUNCTION = "fn_tickets_for_map"  # the one object the loader owned in `reporting`

# How an old column's type becomes the new one's without loss: old type -> SQL ({c} the column).
TEXT = {"text": "{c}", "character varying": "{c}::text"}
JSONB = {"jsonb": "{c}", "json": "{c}::jsonb", "text": "{c}::jsonb"}
POINT = {"geometry(Point,4326)": "{c}", "geography(Point,4326)": "{c}::geometry", "geometry": "{c}"}
MOMENT = {"timestamp with time zone": "{c}", "timestamp without time zone": "{c}::timestamptz"}
FLAG = {"boolean": "{c}"}
NUMBER = {"double precision": "{c}", "real": "{c}::double precision", "numeric": "{c}::double precision"}
RESOLVED = "resolved"  # a ticket position the old table lacks: resolved from the gazetteers


@dataclass(frozen=True)
class Field:
    name: str
    casts: Mapping[str, str]
    missing: str | None = None  # SQL when the old table lacks the column; None: it must be there


TICKET_FIELDS = (
    Field("ticket_id", TEXT),
    Field("raw", JSONB),
    Field("geom", POINT, RESOLVED),
    Field("geo_source", TEXT, RESOLVED),
    Field("ingested_at", MOMENT, "now()"),
)
# The tables the seed README documents, in the order they are carried (gazetteers before tickets).
SEED_TABLES: dict[str, tuple[Field, ...]] = {
    "geo_clusters": (
        Field("cluster", TEXT),
        Field("query", TEXT, "o.cluster"),
        Field("provider", TEXT, "'earlier loader'"),
        Field("status", TEXT),
        Field("display_name", TEXT, "NULL"),
        Field("geom", POINT, "NULL"),
        Field("detail", TEXT, "NULL"),
        Field("verified", FLAG, "false"),
        Field("geocoded_at", MOMENT, "now()"),
    ),
    "geo_locations": (
        Field("query", TEXT),  # re-keyed by this package's rule (location_key)
        Field("place", TEXT),
        Field("cluster", TEXT),
        Field("provider", TEXT, "'earlier loader'"),
        Field("status", TEXT),
        Field("display_name", TEXT, "NULL"),
        Field("geom", POINT, "NULL"),
        Field("distance_km", NUMBER, "NULL"),
        Field("detail", TEXT, "NULL"),
        Field("verified", FLAG, "false"),
        Field("geocoded_at", MOMENT, "now()"),
    ),
    "geo_location_names": (Field("location_name", TEXT), Field("cluster", TEXT), Field("query", TEXT)),
    "import_meta": (
        Field("dataset", TEXT),
        Field("source_key", TEXT, "NULL"),
        Field("snapshot_at", MOMENT, "NULL"),
        Field("ingested_at", MOMENT, "now()"),
        Field("metadata", JSONB, "'{}'::jsonb"),
    ),
    "inc": TICKET_FIELDS,
    "crq": TICKET_FIELDS,
}
REQUIRED_TABLES = frozenset({"inc"})
LEDGER = "schema_migrations"
ALLOWED_VALUES = {
    ("geo_clusters", "status"): frozenset({"ok", "not_found", "rejected", "error"}),
    ("geo_locations", "status"): frozenset({"ok", "not_found", "rejected", "error"}),
    ("inc", "geo_source"): frozenset({"feed", "location", "cluster", "none"}),
    ("crq", "geo_source"): frozenset({"feed", "location", "cluster", "none"}),
}
# Views of the loader that this package defines too: another tenant's view may read them, and
# keeps reading the same object, re-pointed at the new tables.
SHARED_VIEWS = frozenset({"inc_open_sla"})


class AdoptRefused(MigrationError):
    """The database cannot be taken over as it is; nothing was changed."""


@dataclass(frozen=True)
class Facts:
    """What the catalog says of the loader's database, read before anything is written."""

    tables: dict[str, list[Column]]  # tickets.<table> -> its columns (the ledger included)
    rows: dict[str, int]
    values: dict[tuple[str, str], set[str]]  # the distinct values of the ALLOWED_VALUES columns
    filled: dict[tuple[str, str], int]  # extra stored columns -> how many rows have a value there
    other_objects: list[str]  # views, functions, sequences of the loader's schema
    dependants: list[Dependant]  # other tenants' objects that depend on the loader's
    taken_names: list[str]  # objects of `reporting` named like this package's own (not the loader's)
    extensions: list[str]  # extensions installed in the tickets schema
    location_keys: list[tuple[str, str, str]]  # (old query, place, cluster) of geo_locations


@dataclass
class Plan:
    kept_in: str
    lines: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    selects: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> new column -> SQL
    new_keys: dict[str, str] = field(default_factory=dict)  # old geo_locations key -> this package's
    shared_views: list[str] = field(default_factory=list)  # loader views that tenants read: re-pointed


@dataclass
class AdoptResult:
    kept_in: str
    applied: bool
    before: dict[str, int]
    after: dict[str, int]
    seconds: float = 0.0


def base_type(type_: str) -> str:
    """`character varying(32)` -> `character varying`; PostGIS types keep their typmod."""
    return type_ if type_.startswith(("geometry", "geography")) else type_.split("(")[0]


def conversion(f: Field, column: Column | None) -> tuple[str | None, str | None]:
    """(SQL for the new column, refusal): from the old column, else what stands in for it."""
    if column is None:
        if f.missing is None:
            return None, f"no column {f.name}"
        return f.missing, None
    template = f.casts.get(column.type) or f.casts.get(base_type(column.type))
    if template is None:
        return None, f"column {f.name} is {column.type}, which cannot become {next(iter(f.casts))} without loss"
    return template.format(c=f"o.{column.name}"), None


def plan(facts: Facts, kept_in: str) -> Plan:
    """What adoption will do, and what it refuses, from the catalog alone."""
    p = Plan(kept_in)
    for name in facts.extensions:
        p.refusals.append(f"extension {name} is installed in the tickets schema: move it out first")
    for name in facts.taken_names:
        p.refusals.append(f"{name} exists and is not the earlier loader's: fleettickets defines an object of that name")
    if not facts.tables.keys() >= REQUIRED_TABLES:
        p.refusals.append("no tickets.inc: this is not the earlier loader's database")
    for table in sorted(facts.tables.keys() - SEED_TABLES.keys() - {LEDGER}):
        p.refusals.append(f"tickets.{table} is not a table of the earlier loader: move it out of the tickets schema")
    for table, fields in SEED_TABLES.items():
        if table in facts.tables:
            _plan_table(p, facts, table, fields)
    ledger = facts.tables.get(LEDGER)
    if ledger is None:
        p.lines.append("tickets.schema_migrations: none; the adoption is recorded in tickets.adoptions")
    else:
        p.lines.append(
            f"tickets.schema_migrations ({', '.join(c.name for c in ledger)}): {facts.rows.get(LEDGER, 0):,} row(s),"
            " copied into tickets.adoptions and kept"
        )
    _plan_keys(p, facts)
    for d in facts.dependants:
        on = d.on.split(".", 1)[-1]
        if d.on.startswith("tickets.") and on in SHARED_VIEWS:
            p.lines.append(f"{d.dependant} reads {d.on}: kept working, re-pointed at the adopted tickets")
            if on not in p.shared_views:
                p.shared_views.append(on)
        else:
            p.refusals.append(
                f"{d.dependant} depends on {d.on}: it would break or keep reading the old table; "
                "ask its owner to drop it, adopt, then create it again"
            )
    if facts.other_objects:
        p.lines.append(f"kept in {kept_in}, replaced by this package's own: {', '.join(facts.other_objects)}")
    return p


def _plan_table(p: Plan, facts: Facts, table: str, fields: tuple[Field, ...]) -> None:
    columns = {c.name: c for c in facts.tables[table]}
    select: dict[str, str] = {}
    for f in fields:
        expr, refusal = conversion(f, columns.get(f.name))
        if refusal:
            p.refusals.append(f"tickets.{table}: {refusal}")
        elif expr is not None:
            select[f.name] = expr
            if f.name not in columns:
                p.lines.append(f"tickets.{table}.{f.name}: absent, set to {_describe(expr)}")
    known = {f.name for f in fields}
    for c in facts.tables[table]:
        if c.name in known:
            continue
        if c.generated:
            continue  # derived from raw: this package's own generated columns replace it
        filled = facts.filled.get((table, c.name), 0)
        if filled:
            p.refusals.append(f"tickets.{table}.{c.name} ({c.type}) holds {filled:,} value(s) with no place here")
        else:
            p.lines.append(f"tickets.{table}.{c.name}: empty, not carried")
    for (t, column), allowed in ALLOWED_VALUES.items():
        odd = sorted(facts.values.get((t, column), set()) - allowed) if t == table else []
        if odd:
            p.refusals.append(f"tickets.{table}.{column} has values fleettickets does not know: {', '.join(odd[:5])}")
    p.selects[table] = select
    p.lines.append(f"tickets.{table}: {facts.rows.get(table, 0):,} row(s) to carry over")


def _plan_keys(p: Plan, facts: Facts) -> None:
    """The loader keyed its location cache its own way: each entry gets this package's key, and two
    entries that would share one are refused (one of them would be lost)."""
    seen: dict[str, str] = {}
    for old, place, cluster in facts.location_keys:
        new = location_key(place, cluster)
        if new in seen:
            p.refusals.append(f"tickets.geo_locations: {seen[new]!r} and {old!r} are the same place ({new!r})")
        seen[new] = old
        p.new_keys[old] = new


def _describe(expr: str) -> str:
    return "the position the gazetteers give" if expr == RESOLVED else expr


# --- reading the catalog -------------------------------------------------------------------------


def read_facts(conn: psycopg.Connection) -> Facts:
    tables = catalog.tables(conn, "tickets")
    rows = {t: _count(conn, "tickets", t) for t in tables}
    values: dict[tuple[str, str], set[str]] = {}
    for table, column in ALLOWED_VALUES:
        if any(c.name == column for c in tables.get(table, [])):
            query = sql.SQL("SELECT DISTINCT {c}::text FROM tickets.{t}").format(
                c=sql.Identifier(column), t=sql.Identifier(table)
            )
            values[(table, column)] = {r[0] for r in conn.execute(query) if r[0] is not None}
    filled: dict[tuple[str, str], int] = {}
    for table, fields in SEED_TABLES.items():
        known = {f.name for f in fields}
        for c in tables.get(table, []):
            if c.name not in known and not c.generated:
                query = sql.SQL("SELECT count({c}) FROM tickets.{t}").format(
                    c=sql.Identifier(c.name), t=sql.Identifier(table)
                )
                filled[(table, c.name)] = conn.execute(query).fetchone()[0]
    location_keys: list[tuple[str, str, str]] = []
    if {"query", "place", "cluster"} <= {c.name for c in tables.get("geo_locations", [])}:
        location_keys = conn.execute(
            "SELECT query::text, place::text, cluster::text FROM tickets.geo_locations"
        ).fetchall()
    directory = migrations.migrations_dir()
    ours = catalog.reporting_names(directory)
    taken = (
        conn.execute(
            """
        SELECT 'reporting.' || relname FROM pg_class WHERE relnamespace = 'reporting'::regnamespace
                                                       AND relname = ANY (%(ours)s) AND relkind <> 'i'
        UNION
        SELECT 'reporting.' || proname FROM pg_proc WHERE pronamespace = 'reporting'::regnamespace
                                                      AND proname = ANY (%(ours)s) AND proname <> %(seed)s
        UNION
        SELECT 'reporting.' || typname FROM pg_type WHERE typnamespace = 'reporting'::regnamespace
                                                      AND typname = ANY (%(ours)s) AND typrelid = 0
        ORDER BY 1
        """,
            {"ours": sorted(ours), "seed": SEED_MAP_FUNCTION},
        ).fetchall()
        if _exists(conn, "reporting")
        else []
    )
    other = conn.execute(
        """
        SELECT (pg_identify_object('pg_class'::regclass, c.oid, 0)).identity FROM pg_class c
         WHERE c.relnamespace = 'tickets'::regnamespace AND c.relkind IN ('v', 'm', 'S')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                                       AND d.deptype IN ('a', 'i'))
        UNION ALL
        SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'tickets'::regnamespace
        ORDER BY 1
        """
    ).fetchall()
    return Facts(
        tables=tables,
        rows=rows,
        values=values,
        filled=filled,
        other_objects=[r[0] for r in other],
        dependants=catalog.foreign_dependants(conn, ["tickets"], ours),
        taken_names=[r[0] for r in taken],
        extensions=[
            r[0] for r in conn.execute("SELECT extname FROM pg_extension WHERE extnamespace = 'tickets'::regnamespace")
        ],
        location_keys=location_keys,
    )


def _exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (schema,)).fetchone()[0]


def _seed_functions(conn: psycopg.Connection) -> list[int]:
    if not _exists(conn, "reporting"):
        return []
    rows = conn.execute(
        "SELECT oid FROM pg_proc WHERE pronamespace = 'reporting'::regnamespace AND proname = %s", (SEED_MAP_FUNCTION,)
    )
    return [r[0] for r in rows]


def _count(conn: psycopg.Connection, schema: str, table: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    return conn.execute(query).fetchone()[0]


def kept_name(conn: psycopg.Connection, today: datetime, prefix: str = KEPT_PREFIX) -> str:
    """tickets_adopted_YYYYMMDD, with _2, _3 ... when that schema exists already."""
    base = f"{prefix}{today.astimezone(EAT):%Y%m%d}"
    name, n = base, 1
    while _exists(conn, name):
        n += 1
        name = f"{base}_{n}"
    return name


# --- carrying it out ----------------------------------------------------------------------------


def adopt(url: str, reporter: Reporter, *, apply: bool) -> AdoptResult:
    started = time.monotonic()
    with db.connect(url) as conn, _locks(conn):
        if catalog.is_ours(catalog.tables(conn, "tickets").get(LEDGER)):
            raise AdoptRefused(
                "the tickets schema is this package's already (its ledger is ours): run `fleettickets migrate`"
            )
        facts = read_facts(conn)
        kept_in = kept_name(conn, datetime.now(EAT))
        p = plan(facts, kept_in)
        for line in p.lines:
            reporter.step(line)
        for line in p.refusals:
            reporter.step(f"REFUSED  {line}")
        if p.refusals:
            more = f" (and {len(p.refusals) - 1} more, listed above)" if len(p.refusals) > 1 else ""
            raise AdoptRefused(f"cannot adopt: {p.refusals[0]}{more}; nothing was changed")
        result = AdoptResult(kept_in, apply, before={f"tickets.{t}": n for t, n in facts.rows.items()}, after={})
        try:
            _carry_out(conn, p, facts, reporter, result)
        except psycopg.Error as e:
            conn.rollback()
            raise AdoptRefused(f"cannot adopt: {db.first_line(e)}; nothing was changed") from None
        except BaseException:
            conn.rollback()
            raise
        if apply:
            conn.commit()
        else:
            conn.rollback()
    result.seconds = time.monotonic() - started
    return result


class _Locks:
    """The migration lock (waited for) and the ingest and geocode locks (not: a run in progress
    is a reason to stop), held for the whole adoption."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("SELECT pg_advisory_lock(%s)", (db.LOCK_MIGRATE,))
        for key, what in ((db.LOCK_INGEST, "an ingest"), (db.LOCK_GEOCODE, "a geocoding run")):
            if not self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                raise AdoptRefused(f"{what} of fleettickets is running on this database: adopt once it is done")
        self.conn.commit()

    def __exit__(self, *exc: object) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.execute("SELECT pg_advisory_unlock_all()")
            self.conn.commit()


def _locks(conn: psycopg.Connection) -> _Locks:
    return _Locks(conn)


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
    old_views = {v: _viewdef(conn, f"{p.kept_in}.{v}") for v in p.shared_views}
    old_acl = _acls(conn, p.kept_in)
    for oid in _seed_functions(conn):
        conn.execute(sql.SQL("ALTER FUNCTION {} SET SCHEMA {}").format(sql.SQL(_regprocedure(conn, oid)), kept))
    reporter.step(f"moved the earlier loader's objects to {p.kept_in}")
    built = migrations.apply_all(conn, migrations.discover(), Reporter(io.StringIO(), interactive=False))
    reporter.step(f"built this package's schema: {len(built.applied)} migration(s)")
    _copy_rows(conn, p, facts)
    _grant_again(conn, old_acl)
    result.after = {t: _count(conn, "tickets", t.split(".", 1)[1]) for t in result.before if t != f"tickets.{LEDGER}"}
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
    # only for the commit itself.
    for view in p.shared_views:
        _repoint(conn, p.kept_in, view, old_views[view])


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
    conn.execute("SELECT tickets.data_fix_40_loads_from_import_meta()")  # the load history begins with it


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


def _viewdef(conn: psycopg.Connection, view: str) -> str:
    """A view's definition with every name schema-qualified (search_path emptied for the deparse)."""
    path = conn.execute("SELECT current_setting('search_path')").fetchone()[0]
    conn.execute("SELECT set_config('search_path', 'pg_catalog', true)")
    try:
        return conn.execute("SELECT pg_get_viewdef(%s::regclass)", (view,)).fetchone()[0]
    finally:
        conn.execute("SELECT set_config('search_path', %s, true)", (path,))


def _repoint(conn: psycopg.Connection, kept_in: str, view: str, old_definition: str) -> None:
    """Give the loader's view (the object a tenant's view depends on) this package's definition and
    put it where the fresh one was; keep its old definition in kept_in, reading the old table."""
    kept = sql.Identifier(kept_in)
    name = sql.Identifier(view)
    conn.execute(
        sql.SQL("CREATE OR REPLACE VIEW {}.{} AS {}").format(kept, name, sql.SQL(_viewdef(conn, f"tickets.{view}")))
    )
    conn.execute(sql.SQL("DROP VIEW tickets.{}").format(name))
    conn.execute(sql.SQL("ALTER VIEW {}.{} SET SCHEMA tickets").format(kept, name))
    conn.execute(sql.SQL("CREATE VIEW {}.{} AS {}").format(kept, name, sql.SQL(old_definition)))


def _regprocedure(conn: psycopg.Connection, oid: int) -> str:
    path = conn.execute("SELECT current_setting('search_path')").fetchone()[0]
    conn.execute("SELECT set_config('search_path', 'pg_catalog', true)")
    try:
        return conn.execute("SELECT %s::oid::regprocedure::text", (oid,)).fetchone()[0]
    finally:
        conn.execute("SELECT set_config('search_path', %s, true)", (path,))


# Grants other roles had on the loader's schema, tables, views and map function: the same
# privileges on the objects of the same name here (the owner's own are implicit). A role that read
# a table reads what this package derives from it too: the map function reads the map layer and
# the feed checks, not tickets.inc and tickets.import_meta alone.
DERIVED_READS = {"inc": ("reporting", "inc_map"), "import_meta": ("tickets", "feed_check")}
ACLS = """
SELECT 'SCHEMA', 'tickets', NULL, a.grantee, a.privilege_type, a.is_grantable
  FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = %(kept)s AND a.grantee <> n.nspowner
UNION ALL
SELECT 'TABLE', 'tickets', c.relname, a.grantee, a.privilege_type, a.is_grantable
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = %(kept)s::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') AND a.grantee <> c.relowner
UNION ALL
SELECT 'FUNCTION', 'reporting', p.proname, a.grantee, a.privilege_type, a.is_grantable
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.pronamespace = %(kept)s::regnamespace AND p.proname = %(seed)s AND a.grantee <> p.proowner
"""


def _acls(conn: psycopg.Connection, kept_in: str) -> list[tuple]:
    return conn.execute(ACLS, {"kept": kept_in, "seed": SEED_MAP_FUNCTION}).fetchall()


def _grant_again(conn: psycopg.Connection, acls: list[tuple]) -> None:
    for kind, schema, name, grantee, privilege, grantable in acls:
        role = sql.SQL("PUBLIC") if grantee == 0 else sql.Identifier(_role(conn, grantee))
        option = sql.SQL(" WITH GRANT OPTION") if grantable else sql.SQL("")
        if kind == "SCHEMA":
            targets = [sql.SQL("SCHEMA {}").format(sql.Identifier(schema))]
        elif kind == "TABLE":
            if conn.execute("SELECT to_regclass(%s)", (f"{schema}.{name}",)).fetchone()[0] is None:
                continue
            relations = [(schema, name)]
            if privilege == "SELECT" and name in DERIVED_READS:
                relations.append(DERIVED_READS[name])
            targets = [sql.SQL("TABLE {}.{}").format(sql.Identifier(s), sql.Identifier(n)) for s, n in relations]
        else:
            oids = conn.execute(
                "SELECT oid FROM pg_proc WHERE pronamespace = 'reporting'::regnamespace AND proname = %s", (name,)
            ).fetchall()
            targets = [sql.SQL("FUNCTION {}").format(sql.SQL(_regprocedure(conn, oid))) for (oid,) in oids]
        for target in targets:
            conn.execute(sql.SQL("GRANT {} ON {} TO {}{}").format(sql.SQL(privilege), target, role, option))


def _role(conn: psycopg.Connection, oid: int) -> str:
    return conn.execute("SELECT rolname FROM pg_roles WHERE oid = %s", (oid,)).fetchone()[0]


def _check(conn: psycopg.Connection, p: Plan, facts: Facts, result: AdoptResult) -> None:
    """Nothing lost: every table's rows, every verified point, every positioned ticket."""
    for table, before in result.before.items():
        if result.after.get(table) != before:
            after = result.after.get(table)
            raise FleetError(f"{table}: {before:,} row(s) before, {after} after; nothing was changed")
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
            raise FleetError(f"{what}: {changed:,} would change; nothing was changed")


def summary(result: AdoptResult) -> str:
    counts = ", ".join(f"{t} {n:,} -> {result.after.get(t, 0):,}" for t, n in result.before.items())
    if result.applied:
        return f"adopted: {counts}; the earlier loader's objects are kept in {result.kept_in} ({result.seconds:.1f} s)"
    return (
        f"dry run: would adopt {counts}; the earlier loader's objects would be kept in {result.kept_in};"
        " nothing was changed"
    )


def drop_kept(url: str, kept_in: str, reporter: Reporter) -> None:
    """Remove the schema an adoption kept, once the operator is satisfied: refused while anything
    outside it (another tenant's view, say) still depends on an object in it."""
    with db.connect(url) as conn, _locks(conn):
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
    if row[0] is not None or not _exists(conn, kept_in):
        raise AdoptRefused(f"{kept_in} was dropped already")


# --- the way back ---------------------------------------------------------------------------------

SET_ASIDE_PREFIX = "tickets_replaced_"
# This package's objects in `reporting`, by name, with the statement that moves each.
OURS_IN_REPORTING = """
SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, c.oid::regclass::text
  FROM pg_class c
 WHERE c.relnamespace = 'reporting'::regnamespace AND c.relname = ANY (%(names)s) AND c.relkind IN ('r', 'p', 'v', 'm')
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
       p.oid::regprocedure::text
  FROM pg_proc p WHERE p.pronamespace = 'reporting'::regnamespace AND p.proname = ANY (%(names)s)
UNION ALL
SELECT 'TYPE', t.oid::regtype::text
  FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
 WHERE t.typnamespace = 'reporting'::regnamespace AND t.typname = ANY (%(names)s)
   AND (t.typrelid = 0 OR c.relkind = 'c') AND t.typelem = 0
"""


def undo(url: str, kept_in: str, reporter: Reporter) -> str:
    """The way back: the earlier loader's objects where they were before the adoption, this package's
    set aside whole in tickets_replaced_YYYYMMDD (what it loaded and verified since is there). One
    transaction; refused, naming each, while another tenant's object depends on this package's
    (but for the loader's views it re-pointed, which are handed back to the loader's tables)."""
    with db.connect(url) as conn, _locks(conn):
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
        try:
            since = _hand_back(conn, kept_in, aside, ours)
        except psycopg.Error as e:
            conn.rollback()
            raise AdoptRefused(f"cannot undo the adoption: {db.first_line(e)}; nothing was changed") from None
        conn.commit()
    reporter.step(f"the earlier loader's objects are back in tickets and reporting ({kept_in} is gone)")
    return (
        f"undone: this package's objects are set aside in {aside} ({since:,} ticket(s) there);"
        " the earlier loader's next run reloads its snapshot"
    )


def _hand_back(conn: psycopg.Connection, kept_in: str, aside: str, ours: frozenset[str]) -> int:
    kept, moved = sql.Identifier(kept_in), sql.Identifier(aside)
    tables = [t for t in catalog.tables(conn, "tickets") if t != LEDGER]
    conn.execute(  # this package's writers wait until the commit; readers do not
        sql.SQL("LOCK TABLE {} IN SHARE MODE").format(
            sql.SQL(", ").join(sql.SQL("tickets.{}").format(sql.Identifier(t)) for t in tables)
        )
    )
    since = _count(conn, "tickets", "inc")
    shared = [v for v in SHARED_VIEWS if conn.execute("SELECT to_regclass(%s)", (f"{kept_in}.{v}",)).fetchone()[0]]
    conn.execute(sql.SQL("ALTER SCHEMA tickets RENAME TO {}").format(moved))
    path = conn.execute("SELECT current_setting('search_path')").fetchone()[0]
    conn.execute("SELECT set_config('search_path', 'pg_catalog', true)")  # names come schema-qualified
    objects = conn.execute(OURS_IN_REPORTING, {"names": sorted(ours)}).fetchall()
    conn.execute("SELECT set_config('search_path', %s, true)", (path,))
    for kind, name in objects:
        conn.execute(sql.SQL("ALTER {} {} SET SCHEMA {}").format(sql.SQL(kind), sql.SQL(name), moved))
    conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO tickets").format(kept))
    for (oid,) in conn.execute(
        "SELECT oid FROM pg_proc WHERE pronamespace = 'tickets'::regnamespace AND proname = %s", (SEED_MAP_FUNCTION,)
    ).fetchall():
        conn.execute(sql.SQL("ALTER FUNCTION {} SET SCHEMA reporting").format(sql.SQL(_regprocedure(conn, oid))))
    for view in shared:  # the object a tenant's view reads gets the loader's definition back
        name = sql.Identifier(view)
        old_definition = _viewdef(conn, f"tickets.{view}")
        conn.execute(sql.SQL("CREATE OR REPLACE VIEW {}.{} AS {}").format(moved, name, sql.SQL(old_definition)))
        conn.execute(sql.SQL("DROP VIEW tickets.{}").format(name))
        conn.execute(sql.SQL("ALTER VIEW {}.{} SET SCHEMA tickets").format(moved, name))
    return since
