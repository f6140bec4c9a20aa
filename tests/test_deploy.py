"""The container's parts without an engine: PID 1 (fleettickets.worker) migrates at start and stops
on SIGTERM, the health check means "can work" (not "the data is fresh"), the build files.
scripts/docker-check runs the real image on a real Docker engine (not in CI)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from fleettickets import migrate
from tests.conftest import CONTRACT_NAMES
from tests.helpers import one

REPO = Path(__file__).resolve().parent.parent
STORE = {"RUSTFS_ENDPOINT": "http://127.0.0.1:9", "RUSTFS_ACCESS_KEY": "a", "RUSTFS_SECRET_KEY": "s3-secret-value"}


def environment(tmp_path: Path, **values: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k not in CONTRACT_NAMES},
        "FLEETTICKETS_STATE_FILE": str(tmp_path / "state"),
        **values,
    }


def health(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fleettickets.health"], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def wait_for_state(path: Path, states: tuple[str, ...]) -> str:
    """The worker's state file once it reads one of `states` (a hang guard, not a timing check)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.is_file():
            text = path.read_text()
            if text.split("\n", 1)[0] in states:
                return text
        time.sleep(0.1)
    pytest.fail(f"the worker never reached {states}")


def stop(worker: subprocess.Popen) -> int:
    worker.send_signal(signal.SIGTERM)
    return worker.wait(timeout=10)  # a hang guard: a PID 1 without a handler would never exit


def test_worker_migrates_an_empty_database_then_is_healthy_and_stops_on_sigterm(empty_db_url, tmp_path):
    env = environment(tmp_path, DATABASE_URL=empty_db_url, **STORE)
    worker = subprocess.Popen(
        [sys.executable, "-m", "fleettickets.worker"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        assert wait_for_state(tmp_path / "state", ("ready", "failed")).startswith("ready")
        with psycopg.connect(empty_db_url) as c:
            assert one(c, "SELECT count(*) FROM tickets.schema_migrations") == len(migrate.discover())
        checked = health(env, tmp_path)
        assert (checked.returncode, checked.stdout) == (0, "healthy\n")
    finally:
        code = stop(worker)
    assert code == 0
    out = worker.stdout.read()
    assert f"fleettickets worker: ready: {len(migrate.discover())} migration(s) applied" in out
    assert out.rstrip().endswith("fleettickets worker: stopping")


def test_a_failing_start_is_one_line_and_an_unhealthy_worker_that_stays_up(db_url, tmp_path):
    with psycopg.connect(db_url) as c:  # an applied migration edited since: migrate refuses, for good
        c.execute("UPDATE tickets.schema_migrations SET checksum = 'edited' WHERE version = 1")
    env = environment(tmp_path, DATABASE_URL=db_url, **STORE)
    worker = subprocess.Popen(
        [sys.executable, "-m", "fleettickets.worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_state(tmp_path / "state", ("failed",))
        checked = health(env, tmp_path)
        assert checked.returncode == 1
        assert checked.stdout.startswith("unhealthy: start-up failed: applied migration 01_tickets_schema.sql has")
    finally:
        assert stop(worker) == 0
    lines = worker.stdout.read().splitlines()
    assert lines[0].startswith("fleettickets worker: error: applied migration 01_tickets_schema.sql has been edited")
    # said only on SIGTERM: still up when told to stop, so no crash loop buries the message
    assert lines[1:] == ["fleettickets worker: stopping"]


def test_a_worker_waiting_for_its_database_is_starting_and_stops_at_once(tmp_path):
    url = "postgresql://fleet:db-secret-pw@127.0.0.1:9/fleettickets"
    env = environment(tmp_path, DATABASE_URL=url, **STORE)
    worker = subprocess.Popen(
        [sys.executable, "-m", "fleettickets.worker"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        give_up = time.monotonic() + 60  # a hang guard
        while "waiting" not in wait_for_state(tmp_path / "state", ("starting",)) and time.monotonic() < give_up:
            time.sleep(0.1)
        checked = health(env, tmp_path)
        assert checked.returncode == 1 and checked.stdout.startswith("unhealthy: starting: waiting: cannot connect")
    finally:
        assert stop(worker) == 0  # even in the middle of its retry pause
    out = worker.stdout.read()
    assert "retrying in 10 s" in out and "db-secret-pw" not in out + checked.stdout


def test_health_is_can_work_not_is_fresh(empty_db_url, tmp_path):
    """No worker state file (a plain host): a new, unmigrated, empty database is healthy."""
    checked = health(environment(tmp_path, DATABASE_URL=empty_db_url, **STORE), tmp_path)
    assert (checked.returncode, checked.stdout) == (0, "healthy\n")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"DATABASE_URL": "postgresql://fleet:db-secret-pw@127.0.0.1:9/x", **STORE}, "cannot connect to the database"),
        ({"DATABASE_URL": "postgresql://fleet:db-secret-pw@127.0.0.1:9/x"}, "RUSTFS_ENDPOINT, RUSTFS_ACCESS_KEY"),
        ({**STORE, "FLEETTICKETS_RUN_DEADLINE_MINUTES": "soon"}, "FLEETTICKETS_RUN_DEADLINE_MINUTES must be"),
    ],
)
def test_health_fails_on_what_stops_the_worker_in_one_line(tmp_path, values, message):
    checked = health(environment(tmp_path, **values), tmp_path)
    assert checked.returncode == 1 and checked.stdout.startswith(f"unhealthy: {message}")
    assert checked.stdout.count("\n") == 1 and "db-secret-pw" not in checked.stdout and not checked.stderr


def healthcheck_flags() -> dict[str, str]:
    dockerfile = (REPO / "Dockerfile").read_text()
    line = re.search(r"^HEALTHCHECK (.*?)\\?$", dockerfile, re.M).group(1)
    return dict(re.findall(r"--([a-z-]+)=(\S+)", line))


def seconds(text: str) -> float:
    return float(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[text[-1]]


def test_the_healthcheck_is_prompt_on_docker_20_10_and_tolerates_a_blip():
    flags = healthcheck_flags()
    assert "start-interval" not in flags  # Docker 20.10 rejects it: the first check comes one interval in
    assert seconds(flags["interval"]) <= 20 and seconds(flags["start-period"]) >= 30
    assert seconds(flags["interval"]) * int(flags["retries"]) >= 45  # a blip under ~a minute does not flip it
    assert seconds(flags["timeout"]) < seconds(flags["interval"])


def test_pid_1_is_the_worker_in_exec_form_and_the_image_installs_the_lock():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert dockerfile.rstrip().endswith('CMD ["python", "-m", "fleettickets.worker"]')
    assert "tail -f /dev/null" not in dockerfile
    assert "--require-hashes -r /tmp/requirements.lock" in dockerfile and "--no-build-isolation /src" in dockerfile
    # the health check is the command tested above, run by a non-root user; the migrations ship in the image
    assert 'CMD ["python", "-m", "fleettickets.health"]' in dockerfile
    assert "USER fleet" in dockerfile and "COPY migrations" in dockerfile


def test_the_lock_file_pins_every_dependency_with_hashes():
    lock = (REPO / "requirements.lock").read_text()
    pinned = dict(re.findall(r"^([a-z0-9._-]+)==(\S+) \\$", lock, re.M))
    pyproject = (REPO / "pyproject.toml").read_text()
    runtime = re.search(r"^dependencies = \[(.*?)\]", pyproject, re.S | re.M).group(1)
    for name in re.findall(r'"([a-zA-Z0-9_-]+)', runtime):
        assert name.lower() in pinned, name
    assert "hatchling" in pinned  # the package is built offline, with the locked backend
    assert lock.count("--hash=sha256:") >= len(pinned)


def test_the_build_context_leaves_out_history_secrets_and_venvs():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".env", ".env.*", ".venv", ".pgdata", ".demo", "tests", "bench", "devtools"} <= ignored


def test_migrate_names_a_missing_postgis():
    """The Deploy section's prerequisite: a server without PostGIS gets the package to install."""
    assert "apt-get install postgresql-15-postgis-3" in migrate.hint(
        'could not open extension control file "/usr/share/postgresql/15/extension/postgis.control"'
    )
    assert migrate.hint("syntax error at or near x") == ""
