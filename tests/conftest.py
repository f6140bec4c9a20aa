"""Real parts only: throwaway PostgreSQL databases (with PostGIS) on a server of the suite's own.

The server is the tests' own cluster in .pgdata/ (tests/pgcluster.py: password authentication,
UTF-8, a free loopback port), started when the session first needs it and left running for the
next; `./scripts/test --down` stops and deletes it. FLEETTICKETS_TEST_ADMIN_URL points the suite
at another server instead. Each test gets its own database, cloned from a template migrated
once per session; every database (and role) this suite creates is named fleettickets_test_* and is
dropped afterwards. No other database is touched.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from devtools.geocoder import DevGeocoder
from fleettickets import migrate
from fleettickets.config import Settings, load_settings, redact_url
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from fleettickets.ingest import ingest_csv
from tests.helpers import KEY, csv_text, quiet, record
from tests.pgcluster import Cluster, ClusterError, free_port
from tests.seed_era import Seed, build, reshape

REPO = Path(__file__).resolve().parent.parent
TEST_CLUSTER = REPO / ".pgdata"
CONTRACT_NAMES = (
    "DATABASE_URL",
    "RUSTFS_ENDPOINT",
    "RUSTFS_ACCESS_KEY",
    "RUSTFS_SECRET_KEY",
    "RUSTFS_BUCKET",
    "RUSTFS_REGION",
    "GEOCODER_PROVIDER",
    "GEOCODER_API_KEY",
    "GEOCODER_BASE_URL",
    "GEOCODER_RATE",
)


# moto's server (werkzeug) logs every request line, query string included: keep it quiet (the
# stand-in geocoder, which sees the key, logs nothing).
logging.getLogger("werkzeug").setLevel(logging.WARNING)


# -- the checkout is as the suite found it -------------------------------------------------------

CHECKOUT = pytest.StashKey[set[bytes] | None]()


def checkout_status() -> set[bytes] | None:
    """`git status` of the checkout the suite runs from, one entry per changed tracked file or
    untracked file not ignored; None where the suite runs from no checkout (a tarball, no git)."""
    git = ["git", "--no-optional-locks", "-C", str(REPO)]
    try:
        top = subprocess.run([*git, "rev-parse", "--show-toplevel"], capture_output=True, text=True)
        if top.returncode or Path(top.stdout.strip()).resolve() != REPO:
            return None
        status = subprocess.run(
            [*git, "status", "--porcelain", "-z", "--untracked-files=all"], capture_output=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return set(status.stdout.split(b"\0")) - {b""}


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[CHECKOUT] = checkout_status()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Tests write under tmp_path, never into the checkout: a file they changed or left there
    (what git status shows that it did not show at the start) fails the run, all tests passed or
    not. git compares contents: a file rewritten with the same bytes passes unseen."""
    before = session.config.stash.get(CHECKOUT, None)
    after = checkout_status() if before is not None else None
    if before is None or after is None or not (new := sorted(after - before)):
        return
    entries = ", ".join(repr(entry.decode(errors="replace")) for entry in new)
    message = f"error: the checkout changed while the suite ran (tests must write under tmp_path): {entries}"
    print(f"\n{message}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@functools.cache
def admin_url() -> str:
    """The server's maintenance database, as its superuser: the explicit one, else the tests' own cluster."""
    explicit = os.environ.get("FLEETTICKETS_TEST_ADMIN_URL")
    if explicit:
        return explicit
    try:
        return Cluster(TEST_CLUSTER).up()
    except ClusterError as e:
        pytest.exit(f"the tests' PostgreSQL cluster: {e}", returncode=3)


def database_url(name: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(admin_url())
    params["dbname"] = name
    return psycopg.conninfo.make_conninfo(**params)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No developer .env or exported setting may leak into a test (it could name a real database)."""
    for name in CONTRACT_NAMES:
        monkeypatch.delenv(name, raising=False)
    # The pipeline's own optional settings too (FLEETTICKETS_RUN_DEADLINE_MINUTES, ...); the
    # suite's FLEETTICKETS_TEST_* stay.
    for name in [n for n in os.environ if n.startswith("FLEETTICKETS_") and not n.startswith("FLEETTICKETS_TEST_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[psycopg.Connection]:
    url = admin_url()
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        pytest.exit(f"PostgreSQL is not reachable at {redact_url(url)}: {e}", returncode=3)
    if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone() is None:
        pytest.exit("PostGIS is not installed on the test server (apt-get install postgresql-15-postgis-3)", 3)
    with conn:
        yield conn


class Databases:
    """Creates uniquely named databases and drops them all at the end."""

    def __init__(self, admin: psycopg.Connection) -> None:
        self.admin = admin
        self.names: list[str] = []

    def create(self, template: str | None = None) -> str:
        name = f"fleettickets_test_{uuid.uuid4().hex[:12]}"
        suffix = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
        self.admin.execute(f"CREATE DATABASE {name}{suffix}")
        self.names.append(name)
        return name

    def drop_all(self) -> None:
        for name in reversed(self.names):
            self.admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.names.clear()


@pytest.fixture(scope="session")
def template_db(pg_admin) -> Iterator[str]:
    databases = Databases(pg_admin)
    name = databases.create()
    migrate.migrate(database_url(name), quiet())
    yield name
    databases.drop_all()


@pytest.fixture
def databases(pg_admin) -> Iterator[Databases]:
    databases = Databases(pg_admin)
    yield databases
    databases.drop_all()


@pytest.fixture
def seed_era(databases) -> Callable[..., str]:
    """seed_era(Seed(...), shape=None) -> the URL of a database of this test's own that the earlier
    loader built (tests/seed_era.py), in one of its SHAPES if named."""

    def make(seed: Seed, shape: str | None = None) -> str:
        url = database_url(databases.create())
        build(url, seed)
        if shape:
            reshape(url, shape)
        return url

    return make


@pytest.fixture
def db_url(databases, template_db) -> str:
    """A migrated, empty database of this test's own."""
    return database_url(databases.create(template=template_db))


@pytest.fixture
def empty_db_url(databases) -> str:
    """A database with nothing in it (not even PostGIS)."""
    return database_url(databases.create())


@pytest.fixture(scope="session")
def shared_db_url(pg_admin, template_db) -> Iterator[str]:
    databases = Databases(pg_admin)
    yield database_url(databases.create(template=template_db))
    databases.drop_all()


@pytest.fixture
def conn(shared_db_url) -> Iterator[psycopg.Connection]:
    """A connection to a migrated database inside a transaction that is rolled back afterwards.

    For tests of SQL rules; tests that need commits (ingest, locks) take db_url instead.
    """
    with psycopg.connect(shared_db_url) as c:
        yield c
        c.rollback()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's real S3 HTTP server on a loopback port: boto3 talks HTTP to it, as to RustFS."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


class Store:
    """A fresh bucket on the moto server, and the settings that reach it."""

    def __init__(self, endpoint: str) -> None:
        from fleettickets.bucket import Bucket

        self.name = f"tickets-{uuid.uuid4().hex[:10]}"
        self.settings = Settings(
            s3_endpoint=endpoint, s3_access_key="test-access", s3_secret_key="test-secret-key", s3_bucket=self.name
        )
        self.client = Bucket(self.settings).client  # the client the pipeline itself uses: path-style
        self.client.create_bucket(Bucket=self.name)

    def put(self, key: str, body: bytes | str) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=body.encode() if isinstance(body, str) else body)

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def with_db(self, url: str) -> Settings:
        return replace(self.settings, database_url=url)

    def env(self, url: str | None = None) -> dict[str, str]:
        env = {
            "RUSTFS_ENDPOINT": self.settings.s3_endpoint,
            "RUSTFS_ACCESS_KEY": "test-access",
            "RUSTFS_SECRET_KEY": "test-secret-key",
            "RUSTFS_BUCKET": self.name,
        }
        if url:
            env["DATABASE_URL"] = url
        return env


@pytest.fixture
def store(s3_endpoint) -> Store:
    return Store(s3_endpoint)


@pytest.fixture
def geocoder() -> Iterator[DevGeocoder]:
    """The strict stand-in geocoder (devtools.geocoder) over HTTP, accepting only KEY."""
    with DevGeocoder(key=KEY) as g:
        yield g


@pytest.fixture
def loaded(db_url, tmp_path) -> str:
    """A database after one ingest and geocoding: what an operator sees on a normal morning."""
    path = tmp_path / "2026-06-15T07-00-00.csv"
    path.write_text(
        csv_text(
            [
                record("T1"),
                record("T2", location_name="NW_Lavington"),
                record("T3", cluster="Kisumu", location_name="X"),
                record("T4", is_actionable="false", bucket="closed"),
                record("T5", is_alarm="true"),
            ],
            sentinel=True,
        )
    )
    settings = load_settings({"DATABASE_URL": db_url})
    ingest_csv(settings, path, quiet(), apply=True)
    with DevGeocoder() as provider:
        geo = load_settings(
            {"DATABASE_URL": db_url, "GEOCODER_API_KEY": "k", "GEOCODER_BASE_URL": provider.url, "GEOCODER_RATE": "100"}
        )
        geocode_clusters(geo, quiet(), apply=True)
        geocode_locations(geo, quiet(), apply=True)
    return db_url
