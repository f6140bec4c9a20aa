"""Geocoding runs: one point per cluster (coarse), one per distinct place of actionable tickets (precise).

Each distinct query is asked at most once per run and, once answered, never again: the answer
is cached in the gazetteer and cache hits never wait on the rate limiter. 'error' outcomes are
recorded but not final (the next run asks again); 'not_found' is re-asked only with
--retry-failed. Every answer is committed as it comes, and the tickets of the clusters touched
are re-resolved at the end, even when the run is interrupted or stopped by the provider.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

from fleettickets import db
from fleettickets.config import Settings
from fleettickets.geocode.places import cluster_query, distance_km, in_kenya, location_query, normalise, strip_codes
from fleettickets.geocode.providers import Outcome, Provider, provider_for
from fleettickets.migrate import open_current
from fleettickets.report import Reporter

GUARD_KM = 25.0
FINAL = {"ok", "not_found", "rejected"}  # 'error' is never final


@dataclass
class GeocodeResult:
    kind: str  # clusters | locations
    outcome: str = "dry-run"  # geocoded | dry-run | locked
    distinct: int = 0
    cached: int = 0
    to_ask: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    verified_kept: int = 0
    requests: int = 0
    moved: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        counts = " ".join(f"{s}={self.statuses[s]}" for s in ("ok", "not_found", "rejected", "error"))
        skipped = "".join(f" skipped_{k}={v}" for k, v in sorted(self.skipped.items()))
        return (
            f"{self.outcome} {self.kind}: distinct={self.distinct} cached={self.cached} asked={self.to_ask} "
            f"requests={self.requests} {counts}{skipped} verified_kept={self.verified_kept} "
            f"tickets_moved={self.moved} seconds={self.seconds:.1f}"
        )


@dataclass
class LocationGroup:
    """The location names (in one cluster) that come down to one query."""

    key: str
    query: str
    place: str
    cluster: str
    names: list[str] = field(default_factory=list)
    tickets: int = 0


@contextmanager
def _session(settings: Settings, apply: bool, reporter: Reporter) -> Iterator[tuple[psycopg.Connection, bool]]:
    """(connection, free): the database, holding the geocoding lock when applying."""
    if apply:
        settings.require_geocoder()
    lock_key = db.LOCK_GEOCODE if apply else None
    with open_current(settings.require_database(), lock_key=lock_key) as (conn, free):
        if not free:
            reporter.step("another geocoding run is going: nothing to do")
        yield conn, free


def _needs_asking(cached: tuple[str, bool] | None, retry_failed: bool) -> bool:
    if cached is None:
        return True
    status, verified = cached
    return not verified and (status not in FINAL or (retry_failed and status == "not_found"))


def _ask_each(
    conn: psycopg.Connection,
    reporter: Reporter,
    settings: Settings,
    items: list,
    result: GeocodeResult,
    ask: Callable[[Provider, object], tuple[str, bool]],
    cluster_of: Callable[[object], str],
    touched: set[str],
) -> None:
    """Ask the provider about each item (ask() stores the answer and returns its status and whether
    it was saved); re-resolve the touched clusters' tickets whatever happens."""
    provider = provider_for(settings)
    try:
        with reporter.progress(f"geocoding {result.kind}", len(items)) as advance:
            for item in items:
                status, saved = ask(provider, item)
                conn.commit()
                touched.add(cluster_of(item))
                if saved:
                    result.statuses[status] += 1
                else:
                    result.verified_kept += 1
                advance(1)
    finally:
        provider.close()
        result.requests = provider.requests
        _reresolve(conn, reporter, result, touched)


def _reresolve(conn: psycopg.Connection, reporter: Reporter, result: GeocodeResult, clusters: set[str]) -> None:
    """Move the tickets of `clusters` to their best position now (feed -> location -> cluster -> none)."""
    if not clusters or conn.closed:
        return
    conn.rollback()
    result.moved = conn.execute("SELECT tickets.reresolve_geom(%s)", (sorted(clusters),)).fetchone()[0]
    conn.commit()
    reporter.step(f"re-resolved positions: {result.moved:,} ticket(s) moved")


def _plan(reporter: Reporter, result: GeocodeResult, what: str) -> None:
    reporter.step(
        f"{result.kind}: {result.distinct:,} distinct, {result.cached:,} cached, {result.to_ask:,} to ask"
        + "".join(f", {n:,} skipped ({why})" for why, n in sorted(result.skipped.items()))
        + what
    )


def geocode_clusters(
    settings: Settings, reporter: Reporter, *, apply: bool, retry_failed: bool = False, limit: int | None = None
) -> GeocodeResult:
    started = time.monotonic()
    result = GeocodeResult("clusters")
    with _session(settings, apply, reporter) as (conn, free):
        if not free:
            result.outcome = "locked"
            return result
        clusters = [
            r[0]
            for r in conn.execute(
                "SELECT cluster FROM tickets.inc WHERE btrim(cluster) <> '' GROUP BY 1 ORDER BY count(*) DESC, 1"
            )
        ]
        cache = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT cluster, status, verified FROM tickets.geo_clusters")}
        conn.commit()
        pending = [c for c in clusters if _needs_asking(cache.get(c), retry_failed)]
        todo = pending[:limit]
        result.distinct, result.cached, result.to_ask = len(clusters), len(clusters) - len(pending), len(todo)
        _plan(reporter, result, _estimate(settings, todo, apply))
        if apply and todo:

            def ask(provider: Provider, cluster: str) -> tuple[str, bool]:
                query = cluster_query(cluster)
                outcome = provider.lookup(query)
                status, detail = outcome.status, outcome.detail
                if status == "ok" and not in_kenya(outcome.lng, outcome.lat):
                    status, detail = "rejected", f"outside Kenya ({outcome.lat:.4f}, {outcome.lng:.4f})"
                saved = conn.execute(
                    "SELECT tickets.save_cluster(%s, %s, %s, %s, %s, %s, %s, %s)",
                    (cluster, query, provider.name, status, outcome.display_name, outcome.lng, outcome.lat, detail),
                ).fetchone()[0]
                return status, saved

            _ask_each(conn, reporter, settings, todo, result, ask, cluster_of=lambda c: c, touched=set())
    result.outcome = "geocoded" if apply else "dry-run"
    result.seconds = time.monotonic() - started
    return result


def group_locations(rows: list[tuple[str, str, int]]) -> tuple[dict[str, LocationGroup], int]:
    """(location_name, cluster, tickets) -> one group per normalised query; and the tickets whose
    name is nothing but codes."""
    groups: dict[str, LocationGroup] = {}
    codes_only = 0
    for name, cluster, tickets in rows:
        place = strip_codes(name)
        if not place:
            codes_only += tickets
            continue
        query = location_query(place, cluster)
        group = groups.setdefault(normalise(query), LocationGroup(normalise(query), query, place, cluster))
        group.names.append(name)
        group.tickets += tickets
    return groups, codes_only


def geocode_locations(
    settings: Settings,
    reporter: Reporter,
    *,
    apply: bool,
    limit: int | None = None,
    retry_failed: bool = False,
    guard_km: float = GUARD_KM,
) -> GeocodeResult:
    started = time.monotonic()
    result = GeocodeResult("locations")
    with _session(settings, apply, reporter) as (conn, free):
        if not free:
            result.outcome = "locked"
            return result
        rows = conn.execute(
            "SELECT location_name, cluster, count(*) FROM tickets.inc"
            " WHERE is_actionable AND btrim(location_name) <> '' AND btrim(cluster) <> '' GROUP BY 1, 2"
        ).fetchall()
        groups, codes_only = group_locations(rows)
        centres = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                "SELECT cluster, ST_X(geom), ST_Y(geom) FROM tickets.geo_clusters WHERE status = 'ok'"
            )
        }
        cache = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT query, status, verified FROM tickets.geo_locations")}
        known_names = set(conn.execute("SELECT location_name, cluster FROM tickets.geo_location_names").fetchall())
        conn.commit()
        if codes_only:
            result.skipped["name is only codes: tickets"] = codes_only
        todo: list[LocationGroup] = []
        renamed: set[str] = set()  # clusters where a new spelling was mapped to a known place
        for group in groups.values():
            if not _needs_asking(cache.get(group.key), retry_failed):
                result.cached += 1
                new_names = [n for n in group.names if (n, group.cluster) not in known_names]
                if new_names and apply:  # a new spelling of a known place: no request needed
                    conn.execute("SELECT tickets.add_location_names(%s, %s, %s)", (group.key, group.cluster, new_names))
                    renamed.add(group.cluster)
            elif group.cluster not in centres:
                result.skipped["cluster not geocoded"] += 1
            else:
                todo.append(group)
        conn.commit()
        todo.sort(key=lambda g: (-g.tickets, g.key))
        todo = todo[:limit]
        result.distinct, result.to_ask = len(groups), len(todo)
        _plan(reporter, result, _estimate(settings, todo, apply))
        if apply and todo:

            def ask(provider: Provider, group: LocationGroup) -> tuple[str, bool]:
                outcome = provider.lookup(group.query)
                status, detail, distance = _guard(outcome, centres[group.cluster], group.cluster, guard_km)
                saved = conn.execute(
                    "SELECT tickets.save_location(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        group.key,
                        group.place,
                        group.cluster,
                        provider.name,
                        status,
                        outcome.display_name,
                        outcome.lng,
                        outcome.lat,
                        distance,
                        detail,
                        group.names,
                    ),
                ).fetchone()[0]
                return status, saved

            _ask_each(conn, reporter, settings, todo, result, ask, cluster_of=lambda g: g.cluster, touched=renamed)
        else:
            _reresolve(conn, reporter, result, renamed)
    result.outcome = "geocoded" if apply else "dry-run"
    result.seconds = time.monotonic() - started
    return result


def _guard(
    outcome: Outcome, centre: tuple[float, float], cluster: str, guard_km: float
) -> tuple[str, str | None, float | None]:
    """The wrong-city guard: a result too far from its cluster's point is recorded, never used."""
    if outcome.status != "ok":
        return outcome.status, outcome.detail, None
    distance = distance_km(centre[0], centre[1], outcome.lng, outcome.lat)
    if distance > guard_km:
        return "rejected", f"{distance:.1f} km from the {cluster} point (guard {guard_km:g} km)", distance
    return "ok", None, distance


def _estimate(settings: Settings, todo: list, apply: bool) -> str:
    if apply or not todo:
        return ""
    return (
        f"; dry run: would send about {len(todo):,} request(s), ~{len(todo) / settings.geocoder_rate:,.0f} s "
        f"at {settings.geocoder_rate:g}/s"
    )
