"""What adoption will do, and what it refuses, from the catalog's facts alone (pure).

Each table and column the seed README documents is mapped onto this package's schema. What this
package's own rules derive is derived (a location's place and cluster, from its query or from the
tickets' labels); an old column that means the same as one of ours (a timestamp of the same row,
a point's coordinates) is recognised by its type and name, and the plan says so; a filled column
with no home at all is listed with its count and refuses the adoption unless the operator names
it (`--leave tickets.TABLE.COLUMN`): it then stays in the kept schema. Nothing is left silently.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from fleettickets.adopt.locations import Location, rekey
from fleettickets.catalog import Column, Dependant

SEED_MAP_FUNCTION = "fn_tickets_for_map"  # the one object the loader owned in `reporting`

# How an old column's type becomes the new one's without loss: old type -> SQL ({c} the column).
TEXT = {"text": "{c}", "character varying": "{c}::text", "character": "{c}::text"}
JSONB = {"jsonb": "{c}", "json": "{c}::jsonb", "text": "{c}::jsonb"}
POINT = {"geometry(Point,4326)": "{c}", "geography(Point,4326)": "{c}::geometry", "geometry": "{c}"}
# A wall-clock timestamp of the loader's is EAT: the clock of the feed and of its scheduled task.
NAIVE = "timestamp without time zone"
MOMENT = {"timestamp with time zone": "{c}", NAIVE: "({c} AT TIME ZONE 'Africa/Nairobi')"}
FLAG = {"boolean": "{c}"}
NUMBER = {"double precision": "{c}", "real": "{c}::double precision", "numeric": "{c}::double precision"}
RESOLVED = "resolved"  # a ticket position the old table lacks: resolved from the gazetteers
DERIVED = "derived"  # a location's place and cluster the old table lacks: derived (plan_locations)


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
        Field("place", TEXT, DERIVED),
        Field("cluster", TEXT, DERIVED),
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
TICKET_TABLES = tuple(t for t, fields in SEED_TABLES.items() if fields is TICKET_FIELDS)  # inc, crq
REQUIRED_TABLES = frozenset({"inc"})
LEDGER = "schema_migrations"
# Views of the loader that this package defines too: another tenant's view may read them, and
# keeps reading the same object, re-pointed at the new tables.
SHARED_VIEWS = frozenset({"inc_open_sla"})
# The tables keyed by a location's query: the loader's key, re-derived (the temporary table
# adopt_keys holds each old key with this package's, its place and its cluster).
KEYED_BY_LOCATION = ("geo_locations", "geo_location_names")

# This package's timestamp of a row, and the names an old table gives its own: the most recent
# change first (the first that holds a value is carried), then the row's first moment.
ROW_TIMES = frozenset({"geocoded_at", "ingested_at"})
LAST_CHANGE = re.compile(
    r"(?:updated|modified|refreshed|checked|geocoded|ingested|loaded|saved)_at"
    r"|last_(?:updated|modified|refreshed|checked|geocoded|ingested|loaded)"
)
FIRST_CHANGE = re.compile(r"(?:created|inserted|added)_at")
# A point kept as two numbers.
LATITUDES = ("lat", "latitude")
LONGITUDES = ("lng", "lon", "long", "longitude")


@dataclass(frozen=True)
class Facts:
    """What the catalog says of the loader's database, read before anything is written."""

    tables: dict[str, list[Column]]  # tickets.<table> -> its columns (the ledger included)
    rows: dict[str, int]
    filled: dict[tuple[str, str], int]  # stored columns named like none of ours -> how many values
    other_objects: list[str]  # views, functions, sequences of the loader's schema
    dependants: list[Dependant]  # other tenants' objects that depend on the loader's
    taken_names: list[str]  # objects of `reporting` named like this package's own (not the loader's)
    extensions: list[str]  # extensions installed in the tickets schema
    locations: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # geo_locations:
    # (query, place, cluster) as stored, None where the column is missing
    labels: list[tuple[str, str]] = field(default_factory=list)  # INC's and CRQ's (location_name, cluster)
    clusters: list[str] = field(default_factory=list)  # the names in geo_clusters


@dataclass
class Plan:
    kept_in: str
    lines: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    selects: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> new column -> SQL over `o`
    joins: dict[str, str] = field(default_factory=dict)  # table -> what the old rows are joined with
    locations: list[Location] = field(default_factory=list)
    spellings: list[tuple[str, str, str]] = field(default_factory=list)  # (location_name, cluster, query)
    shared_views: list[str] = field(default_factory=list)  # loader views that tenants read: re-pointed
    left: list[str] = field(default_factory=list)  # tickets.TABLE.COLUMN left in kept_in, as asked


def base_type(type_: str) -> str:
    """`character varying(32)` -> `character varying`; PostGIS types keep their typmod."""
    return type_ if type_.startswith(("geometry", "geography")) else type_.split("(")[0]


def cast(casts: Mapping[str, str], column: Column) -> str | None:
    """SQL for the old column as the new type, or None when it cannot become it without loss."""
    template = casts.get(column.type) or casts.get(base_type(column.type))
    return template.format(c=f"o.{column.name}") if template else None


def plan(facts: Facts, kept_in: str, leave: Collection[str] = ()) -> Plan:
    """What adoption will do, and what it refuses, from the catalog alone. `leave`: the filled
    columns with no place here that the operator has named, to be left in kept_in."""
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
            _plan_table(p, facts, table, fields, frozenset(leave))
    for name in sorted(set(leave) - set(p.left)):
        p.refusals.append(f"--leave {name}: the plan leaves no such column (only a filled one with no place here)")
    ledger = facts.tables.get(LEDGER)
    if ledger is None:
        p.lines.append("tickets.schema_migrations: none; the adoption is recorded in tickets.adoptions")
    else:
        p.lines.append(
            f"tickets.schema_migrations ({', '.join(c.name for c in ledger)}): {facts.rows.get(LEDGER, 0):,} row(s),"
            " copied into tickets.adoptions and kept"
        )
    _plan_locations(p, facts)
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


def _plan_table(p: Plan, facts: Facts, table: str, fields: tuple[Field, ...], leave: frozenset[str]) -> None:
    # A generated column is derived from raw: this package's own generated columns replace it.
    stored = [c for c in facts.tables[table] if not c.generated]
    ours = {f.name for f in fields}
    others = [c for c in stored if c.name not in ours]
    carried: set[str] = set()
    select: dict[str, str] = {}
    for f in fields:
        exact = next((c for c in stored if c.name == f.name), None)
        if exact is not None and cast(f.casts, exact) is None:
            into = next(iter(f.casts))
            p.refusals.append(
                f"tickets.{table}: column {f.name} is {exact.type}, which cannot become {into} without loss"
            )
            continue
        sources = _sources(f, exact, others)
        if not sources:
            if f.missing is None:
                p.refusals.append(f"tickets.{table}: no column {f.name}")
                continue
            select[f.name] = f.missing
            if f.missing != DERIVED:
                p.lines.append(f"tickets.{table}.{f.name}: absent, set to {_describe(f.missing)}")
            continue
        exprs = [expr for _, expr in sources]
        if f.missing not in (None, "NULL", RESOLVED, DERIVED):
            exprs.append(f.missing)  # this package's column is NOT NULL: the default where the old one is empty
        select[f.name] = exprs[0] if len(exprs) == 1 else f"coalesce({', '.join(exprs)})"
        for i, (columns, _) in enumerate(sources):
            carried.update(c.name for c in columns)
            if columns != (exact,):
                p.lines.append(_recognised(table, f.name, columns, [c for c, _ in sources[:i]]))
            p.lines += [f"tickets.{table}.{c.name} ({c.type}): read as EAT" for c in columns if c.type == NAIVE]
    _plan_homeless(p, facts, table, [c for c in others if c.name not in carried], leave)
    p.selects[table] = select
    p.lines.append(f"tickets.{table}: {facts.rows.get(table, 0):,} row(s) to carry over")


def _plan_homeless(p: Plan, facts: Facts, table: str, columns: list[Column], leave: frozenset[str]) -> None:
    """The old columns with no place here: an empty one is not carried; a filled one is left in
    kept_in when the operator has named it, and refuses the adoption until then."""
    for c in columns:
        name, filled = f"tickets.{table}.{c.name}", facts.filled.get((table, c.name), 0)
        if not filled:
            p.lines.append(f"{name}: empty, not carried")
        elif name in leave:
            p.left.append(name)
            p.lines.append(f"{name} ({c.type}): {filled:,} value(s) with no place here, left in {p.kept_in} (--leave)")
        else:
            p.refusals.append(
                f"{name} ({c.type}) holds {filled:,} value(s) with no place here: to adopt without them"
                f" (they stay in {p.kept_in}), name it: --leave {name}"
            )


def _sources(f: Field, exact: Column | None, others: list[Column]) -> list[tuple[tuple[Column, ...], str]]:
    """The old columns that hold this field's value, each with its SQL, the first preferred: the
    column of the same name; for a row's timestamp, the old table's own (updated_at, ...); for a
    point, its coordinates or a point column of another name."""
    found: list[tuple[tuple[Column, ...], str]] = []
    if exact is not None:
        found.append(((exact,), cast(f.casts, exact) or ""))
    if f.name in ROW_TIMES:
        ranked = [c for c in others if LAST_CHANGE.fullmatch(c.name)]
        ranked += [c for c in others if FIRST_CHANGE.fullmatch(c.name)]
        found += [((c,), expr) for c in ranked if (expr := cast(f.casts, c))]
    elif f.name == "geom" and exact is None:
        found += _position(others)
    return found


def _position(others: list[Column]) -> list[tuple[tuple[Column, ...], str]]:
    lat = next((c for c in others if c.name in LATITUDES and cast(NUMBER, c)), None)
    lng = next((c for c in others if c.name in LONGITUDES and cast(NUMBER, c)), None)
    if lat and lng:
        y, x = cast(NUMBER, lat), cast(NUMBER, lng)
        point = f"CASE WHEN {y} IS NOT NULL AND {x} IS NOT NULL THEN ST_SetSRID(ST_MakePoint({x}, {y}), 4326) END"
        return [((lat, lng), point)]
    points = [c for c in others if c.type.startswith(("geometry", "geography")) and cast(POINT, c)]
    return [((points[0],), cast(POINT, points[0]) or "")] if len(points) == 1 else []


def _recognised(table: str, name: str, columns: tuple[Column, ...], before: list[tuple[Column, ...]]) -> str:
    names = ", ".join(c.name for c in columns)
    if name in ROW_TIMES:
        what = "a timestamp of the same row"
    else:
        what = "a point's coordinates" if len(columns) == 2 else "the same point"
    where = f" where {' and '.join(c.name for cs in before for c in cs)} is empty" if before else ""
    return f"tickets.{table}.{names} ({columns[0].type}): {what}, carried as {name}{where}"


def _describe(expr: str) -> str:
    return "the position the gazetteers give" if expr == RESOLVED else expr


def _plan_locations(p: Plan, facts: Facts) -> None:
    """The loader keyed its location cache its own way: each entry gets this package's key, and
    its place and cluster, derived where the table lacks them (locations.py); an entry neither the
    labels nor its query place, and two that would share a key (one would be lost), are refused."""
    found = rekey(facts.locations, facts.labels, facts.clusters)
    p.locations, p.spellings = found.locations, found.spellings
    for first, second, key in found.same_place:
        p.refusals.append(f"tickets.geo_locations: {first!r} and {second!r} are the same place ({key!r})")
    if found.unplaced:
        n = len(found.unplaced)
        p.refusals.append(
            f"tickets.geo_locations: {n:,} entr{'y' if n == 1 else 'ies'} whose place and cluster neither the"
            f" tickets' labels nor the query give (first: {found.unplaced[0]!r})"
        )
    absent = [name for name in ("place", "cluster") if p.selects.get("geo_locations", {}).get(name) == DERIVED]
    if absent:
        p.lines.append(
            f"tickets.geo_locations.{' and '.join(absent)}: absent, derived by this package's rules:"
            f" {found.whence['labels']:,} from the tickets' labels, {found.whence['query']:,} from the query"
        )
    for table in KEYED_BY_LOCATION:
        select = p.selects.get(table, {})
        if "query" in select:
            p.joins[table] = f"JOIN adopt_keys k ON k.old = {select['query']}"
            select["query"] = "k.new"
    p.selects.get("geo_locations", {}).update(place="k.place", cluster="k.cluster")


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
