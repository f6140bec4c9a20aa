"""The `fleettickets` command: flags and messages only; the work is in the library modules."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer._click.exceptions import UsageError  # typer >= 0.26 vendors click; the tests hold this import
from typer.core import TyperGroup

from fleettickets import history, jsonout, monitor, reports
from fleettickets import loads as load_history
from fleettickets import migrate as migrations
from fleettickets import status as pipeline_status
from fleettickets.adopt import apply as adoption
from fleettickets.adopt import undo as way_back
from fleettickets.config import load_settings, redact
from fleettickets.console import Format, Reporter
from fleettickets.datasets import NAMES as DATASET_NAMES
from fleettickets.db import connect, first_line
from fleettickets.errors import FleetError
from fleettickets.geocode import gazetteer
from fleettickets.geocode.places import GUARD_KM
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from fleettickets.ingest import ingest_bucket, ingest_csv
from fleettickets.migrate import open_current
from fleettickets.reports import Precision
from fleettickets.review import queue as review_queue
from fleettickets.review import server as review_server
from fleettickets.snapshot import EAT


class _OneLineUsageErrors(TyperGroup):
    """A usage error (no such command, a value not among the choices, a missing option) is one
    line on stderr and exit 2, like every other failure, instead of typer's framed usage text."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _usage_errors():
            return super().invoke(ctx)


@contextmanager
def _usage_errors() -> Iterator[None]:
    try:
        yield
    except UsageError as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: its help is the answer
            raise
        where = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
        raise _fail(f"{e.format_message()}{where}", e.exit_code) from None


app = typer.Typer(
    cls=_OneLineUsageErrors,
    help="INC and CRQ ticket exports (snapshots and change files) from S3 into a geocoded PostgreSQL/PostGIS schema.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # a rich traceback with locals could show a secret
)

_verbose = False
F = TypeVar("F", bound=Callable[..., object])


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the detail (traceback) of a failure.")] = False,
) -> None:
    global _verbose
    _verbose = verbose


def _fail(message: str, code: int) -> typer.Exit:
    print(f"error: {redact(message)}", file=sys.stderr, flush=True)
    return typer.Exit(code)


def command(fn: F) -> F:
    """Turn every failure into one line on stderr and a non-zero exit; tracebacks only with --verbose."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except FleetError as e:
            if _verbose:
                print(redact(traceback.format_exc()), file=sys.stderr)
            raise _fail(str(e), e.exit_code) from None
        except KeyboardInterrupt:
            raise _fail("interrupted: nothing after the last commit was kept", 130) from None
        except Exception as e:
            if _verbose:
                print(redact(traceback.format_exc()), file=sys.stderr)
            raise _fail(f"unexpected {type(e).__name__}: {first_line(e)} (run with --verbose for detail)", 1) from None

    return wrapper  # type: ignore[return-value]


Leave = Annotated[
    list[str] | None,
    typer.Option(
        "--leave",
        metavar="tickets.TABLE.COLUMN",
        help="Adopt without this filled column that has no place here (the plan names each); it stays in the kept"
        " schema. Repeatable.",
    ),
]


@app.command()
@command
def migrate(
    status: Annotated[
        bool, typer.Option("--status", help="List applied and pending migrations; apply nothing.")
    ] = False,
    adopt: Annotated[
        bool, typer.Option("--adopt", help="Old spelling of `adopt apply` (with --dry-run, of `adopt plan`).")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --adopt: `adopt plan`.")] = False,
    drop_adopted: Annotated[
        str | None, typer.Option("--drop-adopted", metavar="SCHEMA", help="Old spelling of `adopt drop SCHEMA`.")
    ] = None,
    undo_adopt: Annotated[
        str | None, typer.Option("--undo-adopt", metavar="SCHEMA", help="Old spelling of `adopt undo SCHEMA`.")
    ] = None,
    leave: Leave = None,
) -> None:
    """Apply pending SQL migrations in order (idempotent); --status lists them.

    Taking over the earlier loader's database is `fleettickets adopt`: --adopt, --drop-adopted and
    --undo-adopt are its old spellings, kept as aliases."""
    given = [
        flag
        for flag, on in (
            ("--status", status),
            ("--adopt", adopt),
            ("--drop-adopted", drop_adopted is not None),
            ("--undo-adopt", undo_adopt is not None),
        )
        if on
    ]
    if len(given) > 1:
        raise _fail(f"{given[0]} and {given[1]} do not go together: give one of them", 2)
    if dry_run and not adopt:
        raise _fail("--dry-run goes with --adopt (a plain migrate has --status to show what is pending)", 2)
    if leave and not adopt:
        raise _fail("--leave goes with --adopt (or `fleettickets adopt plan|apply`)", 2)
    if adopt:
        return _adopt(apply=not dry_run, leave=leave)
    if drop_adopted is not None:
        return adopt_drop(drop_adopted)
    if undo_adopt is not None:
        return adopt_undo(undo_adopt)
    url = load_settings().require_database()
    reporter = Reporter()
    if status:
        with connect(url) as conn:
            state = migrations.read_status(conn, migrations.discover())
        for _version, script, applied_at in state.applied:
            reporter.step(f"applied  {script}  {applied_at}")
        for m in state.pending:
            late = m.script in state.out_of_order
            reporter.step(
                f"pending  {m.script}" + (f"  (out of order: below {state.highest}, refused)" if late else "")
            )
        for script in state.changed:
            reporter.step(f"CHANGED  {script}  (edited after it was applied)")
        for script in state.missing:
            reporter.step(f"MISSING  {script}  (applied, not in {migrations.migrations_dir()})")
        for script in state.future:
            reporter.step(f"FUTURE   {script}  (applied by a newer release: nothing here is applied over it)")
        reporter.step(f"migrations: {len(state.applied)} applied, {len(state.pending)} pending")
        if state.changed or state.missing or state.out_of_order:
            raise typer.Exit(1)
        return
    result = migrations.migrate(url, reporter)
    reporter.step(f"migrations: applied {len(result.applied)}, already applied {result.already_applied}")


adopt_app = typer.Typer(
    help="Take over the earlier loader's database (plan, apply), and the way back (drop, undo).", no_args_is_help=True
)
app.add_typer(adopt_app, name="adopt")
KeptSchema = Annotated[str, typer.Argument(metavar="SCHEMA", help="The schema the adoption kept: tickets_adopted_...")]


@adopt_app.command("plan")
@command
def adopt_plan(leave: Leave = None) -> None:
    """What adoption would carry, derive, leave and refuse, table by table; changes nothing."""
    _adopt(apply=False, leave=leave)


@adopt_app.command("apply")
@command
def adopt_apply(leave: Leave = None) -> None:
    """Adopt, in one transaction: the earlier loader's objects kept whole in tickets_adopted_YYYYMMDD."""
    _adopt(apply=True, leave=leave)


def _adopt(*, apply: bool, leave: list[str] | None) -> None:
    reporter = Reporter()
    result = adoption.adopt(load_settings().require_database(), reporter, apply=apply, leave=leave or ())
    reporter.step(adoption.summary(result))


@adopt_app.command("drop")
@command
def adopt_drop(schema: KeptSchema) -> None:
    """Drop the earlier loader's objects an adoption kept, once satisfied (refused while anything depends on them)."""
    way_back.drop_kept(load_settings().require_database(), schema, Reporter())


@adopt_app.command("undo")
@command
def adopt_undo(schema: KeptSchema) -> None:
    """The way back: the earlier loader's objects kept in SCHEMA return; this package's are set aside."""
    reporter = Reporter()
    reporter.step(way_back.undo(load_settings().require_database(), schema, reporter))


DatasetName = StrEnum("DatasetName", {name: name for name in DATASET_NAMES})
PlacesOf = StrEnum("PlacesOf", {name: name for name in (*DATASET_NAMES, "all")})
DatasetOption = Annotated[
    DatasetName, typer.Option("--dataset", help="inc (incidents: the map and the SLA view) or crq (installations).")
]


@app.command()
@command
def ingest(
    from_bucket: Annotated[
        bool, typer.Option("--from-bucket", help="The bucket: the newest snapshot and every pending change file.")
    ] = False,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="A local file instead, loaded as a snapshot.")] = None,
    dataset: DatasetOption = "inc",
    apply: Annotated[bool, typer.Option("--apply", help="Write to the database (default: dry run).")] = False,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Write every skipped row here (CSV).")] = None,
    max_age_hours: Annotated[
        float | None, typer.Option("--max-age-hours", help="Exit 1 if the newest file is older than this.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", hidden=True)] = False,
) -> None:
    """Load a dataset's pending files from the bucket (or a local CSV) into its table; dry run unless --apply."""
    if from_bucket == (csv_file is not None):
        raise _fail("say where the files come from: --from-bucket or --csv FILE (one of them)", 2)
    settings = load_settings()
    reporter = Reporter()
    if force:
        reporter.step("note: --force is no longer needed: a row older than the stored one is never written")
    scheduled = apply and csv_file is None  # the run a push monitor hears about
    with monitor.pushed(settings, dataset, reporter) if scheduled else nullcontext():
        if csv_file is not None:
            result = ingest_csv(settings, csv_file, reporter, apply=apply, dataset_name=dataset, rejects=rejects)
        else:
            result = ingest_bucket(
                settings, reporter, apply=apply, dataset_name=dataset, rejects=rejects, max_age_hours=max_age_hours
            )
        reporter.step(result.summary())
        if result.alert:
            raise _fail(result.alert, 1)


@app.command()
@command
def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document, for machines.")] = False,
    max_age_hours: Annotated[
        float | None,
        typer.Option("--max-age-hours", help="Exit 1 if the newest snapshot the exporter produced is older."),
    ] = None,
) -> None:
    """The pipeline at a glance: last check, newest snapshot, last load, tickets, positions, SLA, migrations."""
    with connect(load_settings().require_database()) as conn:
        report = pipeline_status.read(conn)
    found = pipeline_status.problems(report, max_age_hours)
    reporter = Reporter()
    if as_json:
        reporter.step(jsonout.dumps({**report, "problems": found}))
    else:
        for line in pipeline_status.lines(report):
            reporter.step(line)
    if found:
        raise _fail("; ".join(found), 1)


geocode_app = typer.Typer(
    help="Geocode clusters (coarse) and locations (precise); dry run unless --apply.", no_args_is_help=True
)
app.add_typer(geocode_app, name="geocode")

Apply = Annotated[bool, typer.Option("--apply", help="Send requests and write (default: dry run).")]
RetryFailed = Annotated[
    bool,
    typer.Option(
        "--retry-failed",
        help="Ask again about places not found before (entries of an older strategy are asked again anyway, once).",
    ),
]
Limit = Annotated[int | None, typer.Option("--limit", min=0, help="At most this many requests (distinct places).")]


@geocode_app.command("clusters")
@command
def geocode_clusters_command(apply: Apply = False, retry_failed: RetryFailed = False, limit: Limit = None) -> None:
    """One point per cluster, in Kenya (a place rather than a county of that name): the coarse
    fallback and the centre of each location's search box and guard."""
    reporter = Reporter()
    result = geocode_clusters(load_settings(), reporter, apply=apply, retry_failed=retry_failed, limit=limit)
    reporter.step(result.summary())


@geocode_app.command("locations")
@command
def geocode_locations_command(
    apply: Apply = False,
    limit: Limit = None,
    retry_failed: RetryFailed = False,
    guard_km: Annotated[
        float, typer.Option("--guard-km", min=0.1, help="Search box and guard: no point farther from the cluster's.")
    ] = GUARD_KM,
    dataset: Annotated[
        PlacesOf, typer.Option("--dataset", help="Whose open tickets' places: inc, crq, or all (one budget for both).")
    ] = "inc",
) -> None:
    """Precise points for a dataset's open tickets: one request per distinct place, its words alone in
    a box around the cluster point; the nearest candidate named like the place, within the guard."""
    reporter = Reporter()
    result = geocode_locations(
        load_settings(),
        reporter,
        apply=apply,
        limit=limit,
        retry_failed=retry_failed,
        guard_km=guard_km,
        dataset=None if dataset == "all" else dataset,
    )
    reporter.step(result.summary())


gazetteer_app = typer.Typer(help="Review and fix geocoded points by hand.", no_args_is_help=True)
app.add_typer(gazetteer_app, name="gazetteer")
Kind = Annotated[gazetteer.Kind, typer.Argument(help="Which gazetteer.")]
Key = Annotated[str, typer.Argument(help="the cluster name, or the location query as `gazetteer list` shows it")]


def _current_connection():
    return open_current(load_settings().require_database())


Reviewer = Annotated[
    str | None,
    typer.Option("--reviewer", help="Your name, recorded with the placement (the database role always is)."),
]


@gazetteer_app.command("list")
@command
def gazetteer_list(
    kind: Annotated[gazetteer.Kind | None, typer.Option("--kind", help="Only this gazetteer.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="ok, not_found, rejected or error")] = None,
    unverified: Annotated[bool, typer.Option("--unverified", help="Only entries nobody has checked.")] = False,
) -> None:
    """List gazetteer entries (e.g. --status rejected --unverified): the provider, where a reuse took
    its point from, and the last placement (who placed or verified it, and when)."""
    reporter = Reporter()
    with _current_connection() as (conn, _):
        found = gazetteer.entries(conn, kind=kind, status=status, unverified=unverified)
    for e in found:
        where = f"{e.latitude:.5f},{e.longitude:.5f}" if e.latitude is not None else "-"
        notes = [
            f"match of {e.match_of!r}" if e.match_of else None,
            f"#{e.placement} {e.placed}" if e.placement else None,
            e.detail or e.display_name,
        ]
        reporter.step(
            f"{e.kind:<8} {e.status:<9} {'verified' if e.verified else 'unverified':<10} {e.provider:<10} "
            f"{where:<21} {e.key}  {'; '.join(n for n in notes if n)}".rstrip()
        )
    reporter.step(f"{len(found)} entr{'y' if len(found) == 1 else 'ies'}")


@gazetteer_app.command("verify")
@command
def gazetteer_verify(kind: Kind, key: Key, reviewer: Reviewer = None) -> None:
    """Mark an entry as checked: later geocoding runs never overwrite it (a placement, if it was unverified)."""
    with _current_connection() as (conn, _):
        placement = gazetteer.verify(conn, kind, key, reviewer)
    done = f"placement #{placement}" if placement else "it was verified already: nothing recorded"
    Reporter().step(f"verified {kind} {key!r} ({done})")


@gazetteer_app.command("set")
@command
def gazetteer_set(
    kind: Kind,
    key: Key,
    lat: Annotated[float, typer.Option("--lat", help="latitude")],
    lng: Annotated[float, typer.Option("--lng", help="longitude")],
    reviewer: Reviewer = None,
) -> None:
    """Set an entry's point by hand (marks it verified) and move its tickets now; recorded as a placement."""
    with _current_connection() as (conn, _):
        placed = gazetteer.set_point(conn, kind, key, lng, lat, reviewer)
    Reporter().step(
        f"set {kind} {key!r} to {lat}, {lng} (verified); {placed.moved} ticket(s) moved (placement #{placed.placement})"
    )


@gazetteer_app.command("history")
@command
def gazetteer_history(
    key: Annotated[str | None, typer.Argument(help="Only this entry (the cluster, or the location query).")] = None,
    kind: Annotated[gazetteer.Kind | None, typer.Option("--kind", help="Only this gazetteer.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, the latest first.")] = 50,
) -> None:
    """The placements (hand changes) of an entry, or of all: who, when, before and after."""
    reporter = Reporter()
    with _current_connection() as (conn, _):
        found = gazetteer.history(conn, kind=kind, key=key, limit=limit)
    for p in found:
        before = _state(p.status_before, p.verified_before, p.latitude_before, p.longitude_before)
        after = _state(p.status_after, p.verified_after, p.latitude_after, p.longitude_after)
        reverts = f" of #{p.reverts}" if p.reverts else ""
        reporter.step(f"#{p.id:<5} {p.kind:<8} {p.key}  {p.described}{reverts}: {before} -> {after}")
    reporter.step(f"{len(found)} placement(s)")


def _state(status: str, verified: bool, lat: float | None, lng: float | None) -> str:
    where = f" {lat:.5f},{lng:.5f}" if lat is not None else ""
    return f"{status}{where}{' verified' if verified else ''}"


@gazetteer_app.command("revert")
@command
def gazetteer_revert(
    placement: Annotated[int, typer.Argument(help="The placement's number (`gazetteer history`).")],
    reviewer: Reviewer = None,
) -> None:
    """Put an entry back as it was before placement N (refused if it has changed since); its tickets move now."""
    with _current_connection() as (conn, _):
        done = gazetteer.revert(conn, placement, reviewer)
    Reporter().step(
        f"reverted placement #{placement}: {done.kind} {done.key!r} as it was before it"
        f" (placement #{done.placement}); {done.moved} ticket(s) moved"
    )


@app.command()
@command
def review(
    list_: Annotated[bool, typer.Option("--list", help="Print the review queue and exit.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="With --list: only the first N entries.")] = None,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to bind; anything but 127.0.0.1 is reachable by others, and the token crosses the"
            " network in clear unless a TLS proxy is in front (prefer an SSH tunnel).",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")] = 8765,
    tiles: Annotated[
        str, typer.Option("--tiles", help="Map tile URL template; empty for none (the page works without).")
    ] = review_server.OSM_TILES,
    reviewer: Reviewer = None,
) -> None:
    """Review the places no provider knows, those that would move the most tickets first (not
    found, rejected, code-only labels, unconfirmed reuses, answers far from the cluster's other
    places): --list prints them; otherwise a local page to place them on a map."""
    reporter = Reporter()
    url = load_settings().require_database()
    if not list_:
        page = review_server.Review(url, review_server.new_token(), tiles, reviewer)
        if host != "127.0.0.1":
            reporter.step(
                f"warning: binding {host}: anyone who can reach it and has the token can place points, and the"
                " token crosses the network in clear (plain HTTP) unless a TLS proxy is in front; prefer an SSH"
                " tunnel to 127.0.0.1"
            )
        review_server.serve(page, host, port, lambda link: reporter.step(f"review page: {link}  (Ctrl-C stops)"))
        return
    with open_current(url) as (conn, _):
        found = review_queue.entries(conn, limit)
    # off: open tickets away from a location point (what a placement moves, the order); open: all open ones
    reporter.step(
        f"{'off':>5} {'open':>5} {'reason':<10} {'cluster':<16} {'cluster point':<25} {'entry point':<21} "
        "candidates, entry, detail"
    )
    for e in found:
        where = f"{e.latitude:.5f},{e.longitude:.5f}" if e.latitude is not None else "-"
        centre = f"{e.cluster_latitude:.4f},{e.cluster_longitude:.4f}" if e.cluster_latitude is not None else "-"
        reporter.step(
            f"{e.off_location:>5} {e.tickets:>5} {e.reason:<10} {e.cluster:<16} cluster@{centre:<17} {where:<21} "
            f"{len(e.candidates)} candidate(s)  {e.key}  {e.detail or ''}".rstrip()
        )
    reporter.step(f"{len(found)} entr{'y' if len(found) == 1 else 'ies'} to review")


FormatOption = Annotated[Format, typer.Option("--format", help="How to write the rows.")]
ReportName = StrEnum("ReportName", {name: name for name in reports.REPORTS})


@app.command()
@command
def report(
    name: Annotated[ReportName, typer.Argument(help="Which report.")],
    start: Annotated[
        str | None, typer.Option("--from", help="First EAT day (YYYY-MM-DD); default 30 days ago.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last EAT day (YYYY-MM-DD); default today.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """Analytics: daily flow, backlog, MTTR, SLA compliance, team closures, data quality."""
    first, last = reports.days(start, end, today=datetime.now(EAT).date())
    with _current_connection() as (conn, _):
        table = reports.run(conn, name, first, last)
    Reporter().table(table, fmt, f"{reports.REPORTS[name][1]}, {first} .. {last} (EAT)")


@app.command()
@command
def nearest(
    lng: Annotated[float, typer.Option("--lng", min=-180, max=180, help="Longitude of the vehicle.")],
    lat: Annotated[float, typer.Option("--lat", min=-90, max=90, help="Latitude of the vehicle.")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many tickets.")] = 10,
    radius_km: Annotated[float | None, typer.Option("--radius-km", min=0, help="Only within this distance.")] = None,
    precision: Annotated[
        Precision | None,
        typer.Option("--precision", help="Only tickets positioned this way: location (the place), cluster or feed."),
    ] = None,
    fmt: FormatOption = "table",
) -> None:
    """Dispatch: the open tickets nearest a point, closest first (metres); at the same distance
    breached, at_risk, ok, then the longest open. geo_source says how precise each position is."""
    with _current_connection() as (conn, _):
        table = reports.nearest(conn, lng, lat, limit, radius_km, precision)
    Reporter().table(table, fmt, f"open tickets nearest {lat}, {lng}")


@app.command("loads")
@command
def loads_command(
    dataset: Annotated[DatasetName | None, typer.Option("--dataset", help="Only this dataset.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many files.")] = 20,
    fmt: FormatOption = "table",
) -> None:
    """The load history: the last files applied (or skipped as unchanged), newest first."""
    with _current_connection() as (conn, _):
        table = load_history.listing(conn, dataset, limit)
    Reporter().table(table, fmt, "files loaded, newest first (EAT)")


history_app = typer.Typer(help="The ticket event history.", no_args_is_help=True)
app.add_typer(history_app, name="history")


@history_app.command("rebuild")
@command
def history_rebuild(apply: Apply = False) -> None:
    """Rebuild the event history and daily backlog by replaying the archived snapshots in processed/."""
    reporter = Reporter()
    result = history.rebuild(load_settings(), reporter, apply=apply)
    reporter.step(result.summary())


def main() -> None:
    app()
