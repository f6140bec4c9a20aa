"""The live shape's targets (issue 27), on moto's S3 server (its own process) and a throwaway database:

  backlog     one full snapshot of 31,434 rows + 216 change files of 300 rows (three days of a file every
              20 minutes), applied by one `fleettickets ingest --from-bucket --apply`: wall time, peak RSS
              (beside a run of the snapshot alone: memory flat), and the same-work floor beside it: each
              file's rows, cleaned beforehand (COPY format), fetched from the same store, COPYed and
              merged by the same tickets.merge_stage() in its own transaction; nothing else (no
              listing, no cleaning, no load history, no archive)
  again       every file re-uploaded with a new ETag, in a shuffled order over three runs: the same raw
              checksum and the same history events as the backlog run; rows rolled back (written) 0
  kill -9     the backlog run killed at N random moments, then run again: the same end state, each file
              once in the load history
  nothing new the next run with nothing pending: its wall time and the time it spends in the database

Prints figures; nothing is asserted.

    python bench/backlog.py [--rows 31434] [--files 216] [--per-file 300] [--kills 20]
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import psycopg
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CHILD, run_cli, throwaway_database
from devtools.feed import Feed, change_stream, write_csv
from fleettickets.clean import CleanStats, clean_rows
from fleettickets.config import load_settings
from fleettickets.console import Reporter
from fleettickets.ingest import ingest_bucket
from fleettickets.snapshot import parse_stamp

ACCESS = {"RUSTFS_ACCESS_KEY": "bench", "RUSTFS_SECRET_KEY": "bench-secret"}


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server in a process of its own, so it does not share the runs' interpreter."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    client = s3(endpoint)
    for _ in range(100):
        try:
            client.list_buckets()
            break
        except Exception:
            time.sleep(0.1)
    try:
        yield endpoint
    finally:
        server.terminate()
        server.wait()


def s3(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS["RUSTFS_ACCESS_KEY"],
        aws_secret_access_key=ACCESS["RUSTFS_SECRET_KEY"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def make_files(rows: int, files: int, per_file: int) -> list[tuple[str, bytes]]:
    """(key, body) in stamp order: a snapshot of `rows` rows at 00:00 EAT (a third of them alarms, as in
    the real feed), then a change file every 20 minutes."""
    feed = Feed(int(rows / 0.95))  # ~4 % not yet created at hour 0
    out = io.StringIO()
    write_csv(out, itertools.islice(feed.snapshot(0), rows))
    found = [("automations/inc/2026-06-15T00-00-00.csv", out.getvalue().encode())]
    for change in change_stream(feed, files, per_file):
        out = io.StringIO()
        write_csv(out, iter(change.records), sentinel=False)
        found.append(("automations/inc/changes/" + change.name, out.getvalue().encode()))
    return found


def new_bucket(client, files: list[tuple[str, bytes]], bom: bool = False) -> str:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    for key, body in files:
        client.put_object(Bucket=name, Key=key, Body=(b"\xef\xbb\xbf" + body) if bom else body)
    return name


def env_for(endpoint: str, bucket: str) -> dict[str, str]:
    return {"RUSTFS_ENDPOINT": endpoint, "RUSTFS_BUCKET": bucket, **ACCESS}


def end_state(url: str) -> tuple[str, str, int]:
    """(md5 of every ticket's raw, md5 of the events without their ids and clock, rows in the load history)."""
    with psycopg.connect(url) as c:
        raw = c.execute("SELECT md5(string_agg(ticket_id || raw::text, ',' ORDER BY ticket_id)) FROM tickets.inc")
        events = c.execute(
            "SELECT md5(string_agg(concat_ws('|', ticket_id, observed_at, source_key, kind, old_status, new_status,"
            " is_open, changed), ',' ORDER BY ticket_id, observed_at, kind)) FROM tickets.inc_events"
        )
        history = c.execute("SELECT count(*), count(DISTINCT (source_key, etag)) FROM tickets.loads").fetchone()
        return raw.fetchone()[0], events.fetchone()[0], history


def stage_text(body: bytes) -> bytes:
    """A file's cleaned rows in COPY format (line, ticket_id, raw): what the floor loads."""
    out = io.StringIO()
    for line, ticket_id, raw in clean_rows(io.StringIO(body.decode("utf-8-sig"), newline=""), CleanStats()):
        out.write(f"{line}\t{ticket_id}\t{raw.replace(chr(92), chr(92) * 2)}\n")
    return out.getvalue().encode()


def floor(endpoint: str, files: list[tuple[str, bytes]], url: str) -> float:
    """Each file's cleaned rows fetched, COPYed and merged by tickets.merge_stage() (the same flags as
    the run: the backlog refreshed by each day's last file) in its own transaction; nothing else."""
    client = s3(endpoint)
    bucket = new_bucket(client, [(key, stage_text(body)) for key, body in files])
    stamps = [parse_stamp(key.rsplit("/", 1)[-1]) for key, _ in files]
    last_of_day = {stamp.date(): n for n, stamp in enumerate(stamps)}
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        for n, ((key, _), stamp) in enumerate(zip(files, stamps, strict=True)):
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            with conn.transaction():
                conn.execute("SELECT tickets.begin_stage()")
                with conn.cursor().copy("COPY stage (line, ticket_id, raw) FROM STDIN") as copy:
                    copy.write(body)
                conn.execute(
                    "SELECT * FROM tickets.merge_stage('inc', true, %s, %s, p_backlog := %s)",
                    (key, stamp, last_of_day[stamp.date()] == n),
                )
        return time.perf_counter() - started


def counts(summary: str) -> dict[str, int]:
    return {k: int(v) for k, v in (p.split("=") for p in summary.split() if "=" in p and p[0] != "s")}


def killed_run(url: str, env: dict[str, str], after: float) -> bool:
    """A backlog run SIGKILLed `after` seconds in; whether it was still running then."""
    full = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | env | {"DATABASE_URL": url}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, "ingest", "--from-bucket", "--apply"],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        child.wait(after)
        return False
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
        return True


def database_seconds(url: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall, in the database) seconds of one run in this process: every statement timed."""
    spent = [0.0]
    execute = psycopg.Connection.execute

    def timed(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return execute(self, *args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    psycopg.Connection.execute = timed
    try:
        settings = load_settings({**env, "DATABASE_URL": url})
        started = time.perf_counter()
        ingest_bucket(settings, Reporter(open(os.devnull, "w")), apply=True)  # noqa: SIM115
        return time.perf_counter() - started, spent[0]
    finally:
        psycopg.Connection.execute = execute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=31434)
    parser.add_argument("--files", type=int, default=216)
    parser.add_argument("--per-file", type=int, default=300)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    files = make_files(args.rows, args.files, args.per_file)
    print(
        f"files         1 snapshot ({len(files[0][1]) / 1e6:.1f} MB) + {len(files) - 1} change files "
        f"of {args.per_file} rows"
    )
    with moto_server() as endpoint:
        client = s3(endpoint)
        # the snapshot alone: memory beside the backlog's
        with throwaway_database() as url:
            alone = new_bucket(client, files[:1])
            one_s, one_rss, _ = run_cli(["ingest", "--from-bucket", "--apply"], url, env_for(endpoint, alone))
        with throwaway_database() as url:
            backlog = new_bucket(client, files)
            run_s, run_rss, summary = run_cli(["ingest", "--from-bucket", "--apply"], url, env_for(endpoint, backlog))
            reference = end_state(url)
            print(
                f"backlog       {run_s:.1f} s, peak {run_rss:.0f} MB ({one_rss:.0f} MB for the snapshot alone, "
                f"{one_s:.1f} s); {summary}"
            )
            with throwaway_database() as floor_url:
                floor_s = floor(endpoint, files, floor_url)
            print(f"floor         {floor_s:.1f} s (x{run_s / floor_s:.2f})")

            shuffled = files[:]
            rng.shuffle(shuffled)
            written, stale = 0, 0
            for part in (
                shuffled[: len(files) // 3],
                shuffled[len(files) // 3 : 2 * len(files) // 3],
                shuffled[2 * len(files) // 3 :],
            ):
                for key, body in part:  # a byte-order mark: the same rows under a new ETag
                    client.put_object(Bucket=backlog, Key=key, Body=b"\xef\xbb\xbf" + body)
                _, _, again = run_cli(["ingest", "--from-bucket", "--apply"], url, env_for(endpoint, backlog))
                c = counts(again)
                written += c.get("inserted", 0) + c.get("updated", 0)
                stale += c.get("stale", 0)
            after = end_state(url)
            print(
                f"again         {len(files)} files re-uploaded shuffled over 3 runs: rows written {written}, stale "
                f"{stale:,}; raw {'same' if after[0] == reference[0] else 'DIFFERENT'}, events "
                f"{'same' if after[1] == reference[1] else 'DIFFERENT'}"
            )

            for _ in range(3):  # warm
                database_seconds(url, env_for(endpoint, backlog))
            wall, in_db = database_seconds(url, env_for(endpoint, backlog))
            print(f"nothing new   {wall * 1000:.0f} ms in all, {in_db * 1000:.0f} ms in the database")

        same, applied_twice, mid_run, waited = 0, 0, 0, 0
        for n in range(args.kills):
            with throwaway_database() as url:
                bucket = new_bucket(client, files)
                mid_run += killed_run(url, env_for(endpoint, bucket), rng.uniform(0.5, run_s))
                # The killed run's server process may still be finishing its statement, holding the
                # lock: the next run then says `locked` and leaves the work to the one after it.
                while True:
                    _, _, summary = run_cli(["ingest", "--from-bucket", "--apply"], url, env_for(endpoint, bucket))
                    if not summary.startswith("locked"):
                        break
                    waited += 1
                    time.sleep(1)
                state = end_state(url)
                same += state[:2] == reference[:2]
                if state[2][0] != state[2][1] or state[2][0] != len(files):
                    applied_twice += 1
                    print(f"              the load history holds {state[2][0]} rows, {state[2][1]} files; {summary}")
            print(
                f"kill -9       {n + 1}/{args.kills}: {mid_run} mid-run, end state same {same}, "
                f"a file applied twice or missing {applied_twice}, reruns that found the lock held {waited}",
                flush=True,
            )


if __name__ == "__main__":
    main()
