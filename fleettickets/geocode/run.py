"""Geocoding runs: one point per cluster (coarse), one per distinct place of actionable tickets (precise).

A place is asked for by its words alone, restricted to a box around its cluster's point (the
guard radius each way) with several candidates back; the guard then chooses (places.choose_*).
Each distinct place is asked at most once per run and, once answered, never again: the answer
is cached in the gazetteer and cache hits never wait on the rate limiter. An 'error' is not final
(the next run asks again) and never replaces a stored answer (tickets.outcome_replaces);
'not_found' is re-asked only with --retry-failed; an unverified entry decided under an older
strategy is asked again once. Every answer is committed as it comes, and the tickets of the
clusters touched are re-resolved at the end, even when the run is interrupted or stopped by the
provider.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg.types.json import Jsonb

from fleettickets import db
from fleettickets.config import Settings
from fleettickets.console import Reporter
from fleettickets.geocode.places import (
    CANDIDATES,
    GUARD_KM,
    MATCH_SIMILARITY,
    STRATEGY,
    Choice,
    Known,
    Match,
    box_around,
    candidates_record,
    choose_cluster,
    choose_location,
    choose_match,
    match_forms,
    read_label,
)
from fleettickets.geocode.providers import Outcome, Provider, provider_for
from fleettickets.migrate import open_current

FINAL = {"ok", "not_found", "rejected"}  # 'error' is never final


@dataclass
class GeocodeResult:
    kind: str  # clusters | locations
    outcome: str = "dry-run"  # geocoded | dry-run | locked
    distinct: int = 0
    cached: int = 0
    to_ask: int = 0
    reasked: int = 0  # of to_ask: entries decided under an older strategy
    skipped: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    verified_kept: int = 0
    matched: int = 0  # places the provider cannot find that took a known place's point (no request)
    requests: int = 0
    moved: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        counts = " ".join(f"{s}={self.statuses[s]}" for s in ("ok", "not_found", "rejected", "error"))
        skipped = "".join(f" skipped_{k}={v}" for k, v in sorted(self.skipped.items()))
        return (
            f"{self.outcome} {self.kind}: distinct={self.distinct} cached={self.cached} asked={self.to_ask} "
            f"reasked={self.reasked} "
            f"requests={self.requests} {counts}{skipped} verified_kept={self.verified_kept} matched={self.matched} "
            f"tickets_moved={self.moved} seconds={self.seconds:.1f}"
        )


@dataclass
class LocationGroup:
    """The location names (in one cluster) that come down to one query."""

    key: str
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


Cached = tuple[str, bool, int]  # status, verified, strategy


def _needs_asking(cached: Cached | None, retry_failed: bool) -> bool:
    if cached is None:
        return True
    status, verified, strategy = cached
    if verified:
        return False
    return strategy < STRATEGY or status not in FINAL or (retry_failed and status == "not_found")


def _reask(cached: Cached | None) -> bool:
    """An entry asked again only because an older strategy decided it (sent after new places)."""
    return cached is not None and not cached[1] and cached[2] < STRATEGY and cached[0] in FINAL


def _ask_each(
    conn: psycopg.Connection,
    reporter: Reporter,
    settings: Settings,
    items: list,
    result: GeocodeResult,
    ask: Callable[[Provider, object], tuple[str, bool]],
    cluster_of: Callable[[object], str],
    touched: set[str],
    settle: Callable[[], set[str]] = set,
) -> None:
    """Ask the provider about each item (ask() stores the answer and returns its status and whether
    it was saved); then settle() (what is decided without the provider: the clusters it changed), and
    re-resolve the touched clusters' tickets, whatever happens."""
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
                if stop := provider.hopeless(finished=False):
                    raise stop
        if stop := provider.hopeless(finished=True):
            raise stop
    finally:
        provider.close()
        result.requests = provider.requests
        if not conn.closed:
            conn.rollback()
            touched |= settle()
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
        + (f" ({result.reasked:,} decided by an older strategy, asked again once)" if result.reasked else "")
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
            r[0] for r in conn.execute("SELECT cluster FROM tickets.clusters_to_geocode ORDER BY tickets DESC, cluster")
        ]
        cache = {
            r[0]: (r[1], r[2], r[3])
            for r in conn.execute("SELECT cluster, status, verified, strategy FROM tickets.geo_clusters")
        }
        conn.commit()
        pending = [c for c in clusters if _needs_asking(cache.get(c), retry_failed)]
        pending.sort(key=lambda c: _reask(cache.get(c)))  # stable: most tickets first within each kind
        todo = pending[:limit]
        result.distinct, result.cached, result.to_ask = len(clusters), len(clusters) - len(pending), len(todo)
        result.reasked = sum(_reask(cache.get(c)) for c in todo)
        _plan(reporter, result, _estimate(settings, todo, apply))
        if apply and todo:

            def ask(provider: Provider, cluster: str) -> tuple[str, bool]:
                outcome = provider.lookup(cluster, limit=CANDIDATES)  # the name alone
                choice = _decide(outcome, lambda: choose_cluster(outcome.candidates))
                saved = conn.execute(
                    "SELECT tickets.save_cluster(%s, %s, %s, %s, %s, %s, %s, %s, %s::smallint)",
                    (cluster, cluster, provider.name, choice.status, *choice.point, choice.detail, STRATEGY),
                ).fetchone()[0]
                return choice.status, saved

            _ask_each(conn, reporter, settings, todo, result, ask, cluster_of=lambda c: c, touched=set())
    result.outcome = "geocoded" if apply else "dry-run"
    result.seconds = time.monotonic() - started
    return result


def _decide(outcome: Outcome, choose: Callable[[], Choice]) -> Choice:
    """The provider's answer, chosen among when it has candidates."""
    return choose() if outcome.status == "ok" else Choice(outcome.status, detail=outcome.detail)


def group_locations(rows: list[tuple[str, str, int]]) -> tuple[dict[str, LocationGroup], dict[str, LocationGroup]]:
    """(location_name, cluster, tickets) -> one group per place in its cluster; and one per label
    that is nothing but codes (`NW_FDT_07`: never asked, a place of its own for the review)."""
    groups: dict[str, LocationGroup] = {}
    codes: dict[str, LocationGroup] = {}
    for name, cluster, tickets in rows:
        label = read_label(name, cluster)
        into = codes if label.codes_only else groups
        group = into.setdefault(label.key, LocationGroup(label.key, label.place, cluster))
        group.names.append(name)
        group.tickets += tickets
    return groups, codes


def geocode_locations(
    settings: Settings,
    reporter: Reporter,
    *,
    apply: bool,
    limit: int | None = None,
    retry_failed: bool = False,
    guard_km: float = GUARD_KM,
    dataset: str | None = "inc",
) -> GeocodeResult:
    """The places of `dataset`'s open tickets (None: of every dataset's, most tickets first: the
    gazetteer is shared)."""
    started = time.monotonic()
    result = GeocodeResult("locations")
    with _session(settings, apply, reporter) as (conn, free):
        if not free:
            result.outcome = "locked"
            return result
        rows = conn.execute(
            "SELECT location_name, cluster, tickets FROM tickets.places_to_geocode"
            " WHERE %(dataset)s::text IS NULL OR dataset = %(dataset)s",
            {"dataset": dataset},
        ).fetchall()
        groups, codes = group_locations(rows)
        centres = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                "SELECT cluster, ST_X(geom), ST_Y(geom) FROM tickets.geo_clusters WHERE status = 'ok'"
            )
        }
        cache = {
            r[0]: (r[1], r[2], r[3])
            for r in conn.execute("SELECT query, status, verified, strategy FROM tickets.geo_locations")
        }
        known_names = set(conn.execute("SELECT location_name, cluster FROM tickets.geo_location_names").fetchall())
        conn.commit()
        if codes:
            result.skipped["name is only codes: tickets"] = sum(g.tickets for g in codes.values())
        todo: list[LocationGroup] = []
        renamed: set[str] = set()  # clusters where a new spelling was mapped to a known place
        if apply:
            renamed |= _save_codes(conn, list(codes.values()), cache, known_names)
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
        todo.sort(key=lambda g: (_reask(cache.get(g.key)), -g.tickets, g.key))
        todo = todo[:limit]
        result.distinct, result.to_ask = len(groups), len(todo)
        result.reasked = sum(_reask(cache.get(g.key)) for g in todo)
        _plan(reporter, result, _estimate(settings, todo, apply))
        if apply and todo:

            def ask(provider: Provider, group: LocationGroup) -> tuple[str, bool]:
                centre = centres[group.cluster]
                outcome = provider.lookup(group.place, limit=CANDIDATES, box=box_around(*centre, guard_km), near=centre)
                choice = _decide(
                    outcome, lambda: choose_location(outcome.candidates, group.place, centre, group.cluster, guard_km)
                )
                saved = conn.execute(
                    "SELECT tickets.save_location(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::smallint, %s)",
                    (
                        *(group.key, group.place, group.cluster, provider.name, choice.status),
                        *choice.point,
                        *(choice.distance_km, choice.detail, group.names, STRATEGY),
                        Jsonb(candidates_record(outcome.candidates, centre)) if outcome.candidates else None,
                    ),
                ).fetchone()[0]
                return choice.status, saved

            _ask_each(
                conn,
                reporter,
                settings,
                todo,
                result,
                ask,
                cluster_of=lambda g: g.cluster,
                touched=renamed,
                settle=lambda: _match(conn, result, guard_km),
            )
        else:
            _reresolve(conn, reporter, result, renamed | (_match(conn, result, guard_km) if apply else set()))
    result.outcome = "geocoded" if apply else "dry-run"
    result.seconds = time.monotonic() - started
    return result


CODES_DETAIL = "the name is only network codes: no provider can know it (place it with `fleettickets review`)"


def _save_codes(
    conn: psycopg.Connection, groups: list[LocationGroup], cache: dict[str, Cached], known: set[tuple[str, str]]
) -> set[str]:
    """Code-only labels become entries of their own (never asked) and new spellings join them.
    Returns the clusters touched."""
    touched: set[str] = set()
    for g in groups:
        if g.key not in cache:
            conn.execute(
                "SELECT tickets.save_location(%s, %s, %s, 'codes', 'not_found', NULL, NULL, NULL, NULL, %s, %s,"
                " %s::smallint)",
                (g.key, g.place, g.cluster, CODES_DETAIL, g.names, STRATEGY),
            )
        elif new := [n for n in g.names if (n, g.cluster) not in known]:
            conn.execute("SELECT tickets.add_location_names(%s, %s, %s)", (g.key, g.cluster, new))
        else:
            continue
        touched.add(g.cluster)
    return touched


def _match(conn: psycopg.Connection, result: GeocodeResult, guard_km: float) -> set[str]:
    """Typo-tolerant reuse (places.choose_match), no request: each place the provider cannot find
    takes the point of a known place of its cluster whose name is clearly the same. The database
    scores the same-cluster pairs only, and sends back those that can be chosen. Returns the
    clusters changed."""
    known: dict[str, list[Known]] = {}
    for cluster, key, place in conn.execute("SELECT * FROM tickets.reusable_places(%s)", (guard_km,)):
        known.setdefault(cluster, []).append(Known(key, place))
    wanted = [w for w in conn.execute("SELECT query, place, cluster FROM tickets.places_to_match") if w[2] in known]
    if not wanted:
        conn.commit()
        return set()
    forms = sorted({(cluster, form) for _, place, cluster in wanted for form in match_forms(place)})
    names = sorted({(cluster, k.name) for cluster in {w[2] for w in wanted} for k in known[cluster]})
    scores = {
        (name, known_name): similarity
        for name, known_name, similarity in conn.execute(
            "SELECT * FROM tickets.name_similarity(%s, %s, %s, %s, %s)",
            (
                [c for c, _ in forms],
                [f for _, f in forms],
                [c for c, _ in names],
                [n for _, n in names],
                MATCH_SIMILARITY,
            ),
        )
    }
    chosen: dict[str, tuple[Match, str]] = {}  # entry -> its reuse, its cluster
    for key, place, cluster in wanted:
        if match := choose_match(place, known[cluster], lambda a, b: scores.get((a, b), 0.0)):
            chosen[key] = (match, cluster)
    saved = conn.execute(
        "SELECT * FROM tickets.save_matches(%s, %s, %s)",
        ([*chosen], [m.known.key for m, _ in chosen.values()], [m.detail for m, _ in chosen.values()]),
    ).fetchall()
    conn.commit()
    result.matched += len(saved)
    return {chosen[key][1] for (key,) in saved}


def _estimate(settings: Settings, todo: list, apply: bool) -> str:
    if apply or not todo:
        return ""
    return (
        f"; dry run: would send about {len(todo):,} request(s), ~{len(todo) / settings.geocoder_rate:,.0f} s "
        f"at {settings.geocoder_rate:g}/s"
    )
