"""The demo's driver (run it through ./scripts/demo, which sets everything up).

Against a throwaway database and an in-memory S3 endpoint (moto's server, path-style, as
RustFS is reached), it plays a morning of the live exporter: a full INC snapshot at 06:00 EAT, then
a change file every 20 minutes, and the scheduled job (`fleettickets ingest --from-bucket --apply`,
every 20 minutes) after each; an outage that leaves three change files for one run; a change file
the exporter rewrites (applied again, nothing rolled back); an hour byte-identical to the last
snapshot; and CRQ on the same engine. Then it geocodes against a local stand-in provider, and
prints `fleettickets status`, the load history, every report and the tickets nearest a van.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta

import psycopg
from moto.server import ThreadedMotoServer

from devtools.feed import Feed, change_stream, stamp_name, write_csv
from devtools.geocoder import DevGeocoder
from fleettickets.bucket import Bucket
from fleettickets.config import Settings, redact_url
from fleettickets.db import first_line
from fleettickets.snapshot import EAT

DATABASE = "fleettickets_demo"
START_HOUR = 6  # the schedule's first run, */20 6-20 EAT
CHANGE_FILES = 12  # 06:20 .. 10:00, one every 20 minutes
OUTAGE = {7, 8}  # no run at 08:40 and 09:00 (an outage): the 09:20 run applies three files


def run(*args: str, env: dict[str, str]) -> None:
    out = subprocess.run([sys.executable, "-m", "fleettickets", *args], env=env, capture_output=True, text=True)
    for line in (out.stdout + out.stderr).strip().splitlines():
        print(f"    {line}")
    if out.returncode != 0:
        sys.exit(f"demo: `fleettickets {' '.join(args)}` failed (exit {out.returncode})")


def main(server_url: str) -> None:
    params = psycopg.conninfo.conninfo_to_dict(server_url)
    try:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {DATABASE}")
    except psycopg.Error as e:
        sys.exit(f"demo: cannot make database {DATABASE} on {redact_url(server_url)}: {first_line(e)}")
    url = psycopg.conninfo.make_conninfo(**{**params, "dbname": DATABASE})
    print(f"database      {redact_url(url)} (made anew)")

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request otherwise
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    endpoint = f"http://127.0.0.1:{s3._server.server_port}"
    print(f"bucket        s3://tickets at {endpoint} (moto, in memory)")
    settings = Settings(s3_endpoint=endpoint, s3_access_key="demo", s3_secret_key="demo-secret", s3_bucket="tickets")
    client = Bucket(settings).client  # the pipeline's own client: path-style, as RustFS is reached
    client.create_bucket(Bucket="tickets")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "RUSTFS_ENDPOINT": endpoint,
        "RUSTFS_ACCESS_KEY": "demo",
        "RUSTFS_SECRET_KEY": "demo-secret",
        "RUSTFS_BUCKET": "tickets",
    }

    print("\n$ fleettickets migrate")
    run("migrate", env=env)
    # yesterday's exports, so that open tickets' SLA clocks read like a live feed's
    day = datetime.now(EAT).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    feed = Feed(31434, start=day)
    inc = "automations/inc/"

    def put(key: str, body: bytes, what: str) -> None:
        client.put_object(Bucket="tickets", Key=key, Body=body)
        print(f"\nexporter wrote {key} ({what})")

    def ingest(*extra: str) -> None:
        print(f"$ fleettickets ingest --from-bucket --apply{''.join(' ' + e for e in extra)}")
        run("ingest", "--from-bucket", "--apply", *extra, env=env)

    snapshot = csv_body(feed.snapshot(START_HOUR))
    put(inc + stamp_name(START_HOUR, day), snapshot, f"a full snapshot, {len(snapshot) / 1e6:.1f} MB")
    ingest()
    changes = list(change_stream(feed, CHANGE_FILES, 120, hour=START_HOUR))
    for n, change in enumerate(changes):
        body = csv_body(iter(change.records), sentinel=False)
        put(inc + "changes/" + change.name, body, f"{len(change.records)} changed tickets")
        if n not in OUTAGE:
            ingest()
    rewritten = changes[3]  # the exporter rewrites an applied file: a new ETag, applied again
    put(inc + "changes/" + rewritten.name, csv_body(iter(rewritten.records[:40]), sentinel=False), "rewritten")
    put(inc + stamp_name(START_HOUR + 5, day), csv_body(feed.snapshot(START_HOUR)), "the 06:00 snapshot again")
    ingest()

    crq = "automations/crq/"
    installs = Feed(1500, seed=9, start=day)
    put(crq + stamp_name(START_HOUR, day), csv_body(_as_crq(installs.snapshot(START_HOUR))), "CRQ, a full snapshot")
    change = next(change_stream(installs, 1, 30, hour=START_HOUR))
    put(crq + "changes/" + change.name, csv_body(_as_crq(iter(change.records)), sentinel=False), "CRQ changes")
    ingest("--dataset", "crq")

    with DevGeocoder() as provider:
        geo_env = {**env, "GEOCODER_API_KEY": "demo-key", "GEOCODER_BASE_URL": provider.url, "GEOCODER_RATE": "200"}
        print(f"\ngeocoder      a local LocationIQ stand-in at {provider.url}")
        for kind in ("clusters", "locations"):
            print(f"$ fleettickets geocode {kind} --apply")
            run("geocode", kind, "--apply", env=geo_env)
        print("$ fleettickets geocode locations --apply --dataset crq")
        run("geocode", "locations", "--apply", "--dataset", "crq", env=geo_env)

    print("\n$ fleettickets status")
    run("status", env=env)
    print("\n$ fleettickets loads --limit 8")
    run("loads", "--limit", "8", env=env)
    since = f"{day - timedelta(days=20):%Y-%m-%d}"
    for name in ("daily", "backlog", "mttr", "sla", "teams", "quality"):
        args = ["report", name, "--from", f"{day:%Y-%m-%d}" if name == "backlog" else since, "--to", f"{day:%Y-%m-%d}"]
        if name in ("sla", "teams"):
            args += ["--format", "csv"]  # many rows: keep them compact
        print(f"\n$ fleettickets {' '.join(args)}")
        run(*args, env=env)
    print("\n$ fleettickets nearest --lng 36.8219 --lat -1.2921 --limit 5  # a van in central Nairobi")
    run("nearest", "--lng", "36.8219", "--lat", "-1.2921", "--limit", "5", env=env)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="tickets").get("Contents", [])]
    print(
        f"\nbucket now    {sum(k.startswith('automations/inc/processed/') for k in keys)} INC files in processed/ "
        f"({sum(k.startswith('automations/inc/processed/changes/') for k in keys)} change files), "
        f"{sum(k.startswith('automations/crq/processed/') for k in keys)} CRQ files in processed/, "
        f"{sum('/processed/' not in k for k in keys)} left where they were"
    )
    s3.stop()
    print(
        f"\nThe data stays in database {DATABASE} ({redact_url(url)}); try:\n"
        f"  psql {psql_target(url)} -c 'SELECT sla_state, count(*) FROM tickets.inc_open_sla GROUP BY 1'\n"
        "Throw it away with ./scripts/demo --down (own cluster) or DROP DATABASE fleettickets_demo."
    )


def csv_body(records, sentinel: bool = True) -> bytes:
    text = io.StringIO()
    write_csv(text, records, sentinel=sentinel)
    return text.getvalue().encode()


def _as_crq(records):
    """Installation requests: the same export shape, CRQ ids."""
    for record in records:
        yield {**record, "ticket_id": record["ticket_id"].replace("WOT", "CRQ"), "service_type": "crq"}


def psql_target(url: str) -> str:
    """The URL to paste, its password never printed: on the demo's own cluster, read from its file."""
    cluster = os.environ.get("FLEETTICKETS_DEMO_CLUSTER")
    if not cluster:
        return f"'{redact_url(url)}'"
    params = psycopg.conninfo.conninfo_to_dict(url)
    return f'"postgresql://{params["user"]}:$(cat {cluster}/password)@{params["host"]}:{params["port"]}/{DATABASE}"'


if __name__ == "__main__":
    # The server: DATABASE_URL's, which ./scripts/demo sets to the demo's own cluster unless given one.
    if not os.environ.get("DATABASE_URL"):
        sys.exit("demo: DATABASE_URL is not set: run ./scripts/demo, which starts a cluster of its own")
    main(os.environ["DATABASE_URL"])
