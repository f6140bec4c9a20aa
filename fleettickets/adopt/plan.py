"""What adoption will do, and what it refuses, from the catalog's facts alone (pure): each table
and column the seed README documents mapped onto this package's schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fleettickets.catalog import Column, Dependant
from fleettickets.geocode.places import location_key

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
# What both gazetteers store of a provider's answer, and of its review.
ANSWER = (
    Field("provider", TEXT, "'earlier loader'"),
    Field("status", TEXT),
    Field("display_name", TEXT, "NULL"),
    Field("geom", POINT, "NULL"),
)
REVIEW = (Field("detail", TEXT, "NULL"), Field("verified", FLAG, "false"), Field("geocoded_at", MOMENT, "now()"))
# The tables the seed README documents, in the order they are carried (gazetteers before tickets).
SEED_TABLES: dict[str, tuple[Field, ...]] = {
    "geo_clusters": (Field("cluster", TEXT), Field("query", TEXT, "o.cluster"), *ANSWER, *REVIEW),
    "geo_locations": (
        Field("query", TEXT),  # re-keyed by this package's rule (location_key)
        Field("place", TEXT),
        Field("cluster", TEXT),
        *ANSWER,
        Field("distance_km", NUMBER, "NULL"),
        *REVIEW,
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
# Views of the loader that this package defines too: another tenant's view may read them, and
# keeps reading the same object, re-pointed at the new tables.
SHARED_VIEWS = frozenset({"inc_open_sla"})


@dataclass(frozen=True)
class Facts:
    """What the catalog says of the loader's database, read before anything is written."""

    tables: dict[str, list[Column]]  # tickets.<table> -> its columns (the ledger included)
    rows: dict[str, int]
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


def unknown_values(
    values: Mapping[tuple[str, str], set[str]], allowed: Mapping[tuple[str, str], frozenset[str]]
) -> list[str]:
    """Refusals for the values a carried column holds that this package's CHECK does not allow
    (`values` and `allowed` keyed by (table, column))."""
    refusals = []
    for (table, column), found in sorted(values.items()):
        odd = sorted(found - allowed.get((table, column), found))
        if odd:
            refusals.append(f"tickets.{table}.{column} has values fleettickets does not know: {', '.join(odd[:5])}")
    return refusals
