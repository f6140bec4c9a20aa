"""Seed-era databases: what the earlier loader left in the field (tests/seed_era.sql), with the
ledger in one of the shapes its run_migrations.py used, and data made on the server.

    build(url, Seed(tickets=200_000, ledger="file_name", foreign_view=True))

tests/conftest.py's seed_era fixture makes one for a test; fleettickets() runs the CLI against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg
from click.testing import Result
from psycopg import sql
from typer.testing import CliRunner

from fleettickets.cli import app

SEED_SQL = Path(__file__).with_name("seed_era.sql")
SEED_FILES = (
    "01_tickets_schema.sql",
    "02_import_meta.sql",
    "03_inc_columns.sql",
    "04_inc_latlng.sql",
    "05_inc_geography.sql",
    "06_inc_mttr_minutes.sql",
    "07_inc_drop_service_type.sql",
    "08_inc_open_sla_view.sql",
)
LEDGERS = {
    "file_name": "CREATE TABLE tickets.schema_migrations (filename text PRIMARY KEY, applied_at timestamptz NOT NULL"
    " DEFAULT now())",
    "version": "CREATE TABLE tickets.schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL"
    " DEFAULT now())",
}
ETAG = '"5d41402abc4b2a76b9719d911017c592"'
SNAPSHOT_KEY = "automations/inc/2026-12-01T07-00-00.csv"
# The other tenant's view: dispatch's board, reading the loader's SLA view.
FOREIGN_VIEW = """
CREATE VIEW reporting.v_dispatch_board AS
SELECT cluster, sla_state, count(*) AS open, max(hours_open) AS oldest_hours
  FROM tickets.inc_open_sla GROUP BY cluster, sla_state
"""


@dataclass(frozen=True)
class Seed:
    ledger: Literal["file_name", "version", "none"] = "file_name"
    tickets: int = 0
    clusters: int = 20
    locations: int = 280  # with the clusters: 300 gazetteer rows
    crq: int = 0
    foreign_view: bool = False
    tenant: str | None = None  # the role that owns the foreign view (default: the builder's own)


def build(url: str, seed: Seed) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(SEED_SQL.read_text(encoding="utf-8"))
        if seed.ledger != "none":
            c.execute(LEDGERS[seed.ledger])
            column = "filename" if seed.ledger == "file_name" else "version"
            for name in SEED_FILES:
                c.execute(
                    f"INSERT INTO tickets.schema_migrations ({column}, applied_at)"
                    " VALUES (%s, now() - interval '90 days')",
                    (name if seed.ledger == "file_name" else name[:2],),
                )
        if seed.tickets:
            fill(c, seed)
        if seed.crq:
            fill_crq(c, seed)
        if seed.foreign_view:
            c.execute(FOREIGN_VIEW)
            if seed.tenant:
                c.execute(f"ALTER VIEW reporting.v_dispatch_board OWNER TO {seed.tenant}")


def fill(c: psycopg.Connection, seed: Seed) -> None:
    """Clusters around Nairobi, places within a few km of them (one in eight not found, a third
    verified by hand), tickets spread over the places (one in five at a place the map does not know),
    and the last load's envelope with its ETag."""
    c.execute(
        """
        INSERT INTO tickets.geo_clusters (cluster, query, provider, status, display_name, geom, verified)
        SELECT 'Cluster ' || g, 'Cluster ' || g || ', Kenya', 'locationiq', 'ok', 'Cluster ' || g || ', Kenya',
               ST_SetSRID(ST_MakePoint(36.6 + 0.05 * g, -1.4 + 0.03 * g), 4326), g %% 3 = 0
          FROM generate_series(1, %(clusters)s) g
        """,
        {"clusters": seed.clusters},
    )
    c.execute(
        """
        INSERT INTO tickets.geo_locations (query, place, cluster, provider, status, display_name, geom, distance_km,
                                           verified)
        SELECT 'Place ' || g || ', Cluster ' || (g %% %(clusters)s + 1) || ', Kenya', 'Place ' || g,
               'Cluster ' || (g %% %(clusters)s + 1), 'locationiq',
               CASE WHEN g %% 8 = 0 THEN 'not_found' ELSE 'ok' END, 'Place ' || g || ', Nairobi',
               CASE WHEN g %% 8 <> 0 THEN
                   ST_SetSRID(ST_MakePoint(36.6 + 0.05 * (g %% %(clusters)s + 1) + 0.01 * (g %% 5),
                                           -1.4 + 0.03 * (g %% %(clusters)s + 1) - 0.01 * (g %% 7)), 4326) END,
               CASE WHEN g %% 8 <> 0 THEN 1.5 END,
               g %% 3 = 0
          FROM generate_series(1, %(locations)s) g
        """,
        {"clusters": seed.clusters, "locations": seed.locations},
    )
    c.execute(
        """
        INSERT INTO tickets.inc (ticket_id, raw)
        SELECT 'WOT' || lpad(g::text, 7, '0'),
               jsonb_build_object(
                   'ticket_id', 'WOT' || lpad(g::text, 7, '0'),
                   'raw_status', 'IN PROGRESS', 'normalized_status', 'in_progress',
                   'bucket', CASE WHEN g %% 4 = 0 THEN 'closed' ELSE 'pending' END,
                   'is_actionable', CASE WHEN g %% 4 = 0 THEN 'false' ELSE 'true' END,
                   'is_alarm', 'false', 'service_type', 'inc',
                   'cluster', 'Cluster ' || (p %% %(clusters)s + 1),
                   'region', 'nairobi',
                   'location_name', CASE WHEN g %% 5 = 0 THEN 'NW_FDT_' || (g %% 90)
                                         ELSE 'NW_Place ' || p || '_FDT_' || (g %% 9) END,
                   'assigned_team', 'Team ' || (g %% 7), 'owner', 'Owner ' || (g %% 11),
                   'sla_status', 'Compliant',
                   'mttr', CASE WHEN g %% 4 = 0 THEN '12.5' END,
                   'created_at_service', CASE WHEN g %% 3 <> 0 THEN
                       to_char(timestamp '2026-11-01 08:00' + (g %% 700) * interval '1 hour',
                               'YYYY-MM-DD HH24:MI:SS') END,
                   'first_seen_at',
                       to_char(timestamp '2026-11-01 08:20' + (g %% 700) * interval '1 hour', 'YYYY-MM-DD HH24:MI:SS'),
                   'closed_at', CASE WHEN g %% 4 = 0 THEN
                       to_char(timestamp '2026-11-03 10:00' + (g %% 600) * interval '1 hour',
                               'YYYY-MM-DD HH24:MI:SS') END)
          FROM generate_series(1, %(tickets)s) g, LATERAL (SELECT (g * 7919) %% %(locations)s + 1 AS p) pick
        """,
        {"clusters": seed.clusters, "locations": seed.locations, "tickets": seed.tickets},
    )
    c.execute(
        "INSERT INTO tickets.import_meta (dataset, source_key, snapshot_at, ingested_at, metadata)"
        " VALUES ('inc', %s, '2026-12-01 04:00+00', '2026-12-01 04:15+00', jsonb_build_object('source_etag', %s::text,"
        " 'rows_read', %s::int))",
        (SNAPSHOT_KEY, ETAG, seed.tickets),
    )


def fill_crq(c: psycopg.Connection, seed: Seed) -> None:
    """Installation requests, as the export sent them, each at the place of the INC ticket of its
    number in its own spelling (`ADR_MNT_Place 80 SDUS1`), positioned by the loader's trigger: CRQ
    5 names a place no INC ticket names (INC 5's label is codes alone)."""
    c.execute(
        """
        INSERT INTO tickets.crq (ticket_id, raw)
        SELECT 'CRQ' || g, jsonb_build_object('ticket_id', 'CRQ' || g, 'cluster', 'Cluster ' || (p %% %(clusters)s + 1),
                                              'location_name', 'ADR_MNT_Place ' || p || ' SDUS' || (g %% 4),
                                              'install', 'fibre')
          FROM generate_series(1, %(crq)s) g, LATERAL (SELECT (g * 7919) %% %(locations)s + 1 AS p) pick
        """,
        {"clusters": seed.clusters, "locations": seed.locations, "crq": seed.crq},
    )


# Seed-era databases in shapes this package was not designed for: what another reconstruction of
# the loader from its README (which names no gazetteer column but `verified`), or another era of
# it, may have left. Each is a few statements run on the database build() made.
SHAPES: dict[str, tuple[str, ...]] = {
    # Reconstructed independently from the seed README (issue 25): the location cache has no place
    # column, and the gazetteers and the envelope keep an updated_at of their own (the clusters'
    # never filled: the loader set it on a re-geocode only).
    "reconstructed": (
        "ALTER TABLE tickets.geo_clusters DROP COLUMN geocoded_at, ADD COLUMN updated_at timestamptz",
        "ALTER TABLE tickets.geo_locations DROP COLUMN place",
        "ALTER TABLE tickets.geo_locations RENAME COLUMN geocoded_at TO updated_at",
        "ALTER TABLE tickets.import_meta RENAME COLUMN ingested_at TO updated_at",
    ),
    # Columns named otherwise: a row's timestamp, a point.
    "renamed": (
        "ALTER TABLE tickets.geo_clusters RENAME COLUMN geom TO position",
        "ALTER TABLE tickets.geo_clusters RENAME COLUMN geocoded_at TO last_geocoded",
        "ALTER TABLE tickets.geo_locations RENAME COLUMN geocoded_at TO checked_at",
        "ALTER TABLE tickets.import_meta RENAME COLUMN ingested_at TO loaded_at",
    ),
    # What this package's rules derive: a location's place and cluster, from the tickets' labels or its query.
    "derivable": ("ALTER TABLE tickets.geo_locations DROP COLUMN place, DROP COLUMN cluster",),
    # Bookkeeping of the loader's own: a count and a name with no place here, an empty error column,
    # the rows' first moments.
    "bookkeeping": (
        "ALTER TABLE tickets.geo_locations ADD COLUMN attempts integer NOT NULL DEFAULT 1,"
        " ADD COLUMN last_error text, ADD COLUMN created_at timestamptz NOT NULL DEFAULT now() - interval '9 days'",
        "ALTER TABLE tickets.inc ADD COLUMN loaded_by text DEFAULT 'import_tickets.py'",
        "UPDATE tickets.inc SET loaded_by = 'import_tickets.py'",
    ),
    "varchar": (
        "ALTER TABLE tickets.geo_clusters ALTER COLUMN cluster TYPE varchar(64), ALTER COLUMN query TYPE"
        " varchar(255), ALTER COLUMN status TYPE varchar(16), ALTER COLUMN provider TYPE varchar(32)",
        "ALTER TABLE tickets.geo_locations ALTER COLUMN query TYPE varchar(255), ALTER COLUMN place TYPE"
        " varchar(128), ALTER COLUMN cluster TYPE varchar(64), ALTER COLUMN status TYPE varchar(16),"
        " ALTER COLUMN display_name TYPE varchar(255)",
        "ALTER TABLE tickets.import_meta ALTER COLUMN dataset TYPE varchar(8), ALTER COLUMN source_key TYPE"
        " varchar(512)",
    ),
    # Points kept as numbers, six decimals (about 0.1 m).
    "numeric coordinates": tuple(
        f"ALTER TABLE tickets.{t} ADD COLUMN lat numeric(9,6), ADD COLUMN lon numeric(9,6);"
        f" UPDATE tickets.{t} SET lat = round(ST_Y(geom)::numeric, 6), lon = round(ST_X(geom)::numeric, 6);"
        f" ALTER TABLE tickets.{t} DROP COLUMN geom"
        for t in ("geo_clusters", "geo_locations")
    ),
    "json": (  # its trigger reads raw ->> the same way (PostgreSQL retypes no column a trigger names)
        "DROP TRIGGER crq_resolve_geom ON tickets.crq",
        "ALTER TABLE tickets.crq ALTER COLUMN raw TYPE json",
        "CREATE TRIGGER crq_resolve_geom BEFORE INSERT OR UPDATE OF raw ON tickets.crq"
        " FOR EACH ROW EXECUTE FUNCTION tickets.trg_resolve_geom()",
        "ALTER TABLE tickets.import_meta ALTER COLUMN metadata DROP DEFAULT, ALTER COLUMN metadata TYPE json",
    ),
    # Wall-clock timestamps, written in EAT (the loader's scheduled task ran in Africa/Nairobi).
    "naive timestamps": (
        "ALTER TABLE tickets.inc ALTER COLUMN ingested_at TYPE timestamp USING ingested_at AT TIME ZONE"
        " 'Africa/Nairobi'",
        *(
            f"ALTER TABLE tickets.{t} ALTER COLUMN geocoded_at TYPE timestamp USING geocoded_at AT TIME ZONE"
            " 'Africa/Nairobi'"
            for t in ("geo_clusters", "geo_locations")
        ),
        "ALTER TABLE tickets.import_meta ALTER COLUMN snapshot_at TYPE timestamp USING snapshot_at AT TIME ZONE"
        " 'Africa/Nairobi', ALTER COLUMN ingested_at TYPE timestamp USING ingested_at AT TIME ZONE 'Africa/Nairobi'",
    ),
    # Refused: a location cache keyed by an opaque id, without place or cluster.
    "opaque keys": (
        "ALTER TABLE tickets.geo_locations DROP COLUMN place, DROP COLUMN cluster",
        "UPDATE tickets.geo_locations SET query = 'loc-' || md5(query)",
    ),
    # Refused: a status kept as a code.
    "coded status": (
        "ALTER TABLE tickets.geo_clusters ALTER COLUMN status TYPE integer USING CASE status WHEN 'ok' THEN 1"
        " ELSE 0 END",
    ),
}


def reshape(url: str, shape: str) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        for statement in SHAPES[shape]:
            c.execute(statement)


CONTENT = sql.SQL("SELECT count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM {} r")


def catalog_and_counts(url: str) -> tuple[list[tuple], dict[str, tuple[int, str]]]:
    """Every object of the database, and every table's row count and content (md5 of its rows):
    the same before and after a refusal."""
    with psycopg.connect(url) as c:
        objects = c.execute(
            """
            SELECT n.nspname, c.relname, c.relkind, c.oid::text, pg_get_viewdef(c.oid)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
            UNION ALL
            SELECT n.nspname, p.proname, 'f', p.oid::text, md5(p.prosrc)
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname IN ('tickets', 'reporting')
            UNION ALL
            SELECT nspname, '', 'n', oid::text, '' FROM pg_namespace
            ORDER BY 1, 2, 3, 4
            """
        ).fetchall()
        counts = {
            f"{s}.{t}": c.execute(CONTENT.format(sql.Identifier(s, t))).fetchone()
            for s, t in c.execute(
                "SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('tickets', 'reporting')"
            ).fetchall()
        }
    return objects, counts


def fleettickets(url: str, *args: str) -> Result:
    """The CLI, as an operator runs it against the database at `url`."""
    return CliRunner().invoke(app, list(args), env={"DATABASE_URL": url})


def kept_in(url: str) -> str:
    """The schema the (one) adoption of this database kept the earlier loader's objects in."""
    with psycopg.connect(url) as c:
        return c.execute("SELECT kept_in FROM tickets.adoptions").fetchone()[0]
