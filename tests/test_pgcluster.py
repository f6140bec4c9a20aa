"""The throwaway cluster the tests and the demo run on (tests/pgcluster.py), made for real."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.helpers import wait_until
from tests.pgcluster import PG_BIN, Cluster

REPO = Path(__file__).resolve().parent.parent


def test_own_cluster_wants_its_password_speaks_utf8_and_goes_away(tmp_path):
    # Under pytest's 0700 temporary directory: as root, the postgres user cannot reach it, so
    # this also makes the data live in that user's home behind a symlink.
    cluster = Cluster(tmp_path / "cluster")
    try:
        url = cluster.up()
        with psycopg.connect(url) as conn:
            assert conn.execute(
                "SELECT pg_encoding_to_char(encoding), datcollate, current_setting('listen_addresses')"
                " FROM pg_database WHERE datname = current_database()"
            ).fetchone() == ("UTF8", "C.UTF-8", "127.0.0.1")
        assert stat.S_IMODE((cluster.dir / "password").stat().st_mode) == 0o600
        if cluster.owner:  # root: the server's user cannot reach pytest's 0700 directories
            assert (cluster.dir / "data").is_symlink()
        params = psycopg.conninfo.conninfo_to_dict(url)
        for password, reason in (("wrong", "password authentication failed"), ("", "no password supplied")):
            with pytest.raises(psycopg.OperationalError, match=reason):
                psycopg.connect(psycopg.conninfo.make_conninfo(**{**params, "password": password}))
        assert cluster.up() == url  # left running: the next run reuses it
    finally:
        assert cluster.down()
    assert not cluster.dir.exists() and not cluster.running()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    assert not cluster.down()  # nothing left to do


@pytest.fixture
def cluster(tmp_path) -> Iterator[Cluster]:
    made = Cluster(tmp_path / "cluster")
    try:
        yield made
    finally:
        made.down()


def answers(url: str) -> bool:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def test_a_killed_server_is_started_again(cluster):
    url = cluster.up()
    pid = cluster._postmaster()
    os.kill(pid, signal.SIGKILL)
    # the kernel reaps it once its parent (pg_ctl's shell) is gone
    wait_until(lambda: not cluster.running(), "the killed server was never reaped")
    assert (cluster.data / "postmaster.pid").exists()  # stale
    assert answers(cluster.up()) and cluster.up().rsplit("@", 1)[0] == url.rsplit("@", 1)[0]


def test_a_stale_postmaster_pid_naming_another_live_process_is_not_signalled(cluster):
    cluster.up()
    cluster._stop()
    other = subprocess.Popen(["sleep", "120"])  # the pid a reboot gave to something else
    try:
        (cluster.data / "postmaster.pid").write_text(f"{other.pid}\n{cluster.data}\n")
        assert not cluster.running()
        assert answers(cluster.up())
        assert other.poll() is None  # untouched
    finally:
        other.kill()
        other.wait()


def test_a_cluster_that_cannot_start_again_is_made_anew(cluster):
    cluster.up()
    cluster._stop()
    (cluster.data / "global" / "pg_control").write_bytes(b"garbage")  # a data directory beyond repair
    assert answers(cluster.up())


NETNS = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not NETNS, reason="needs CAP_SYS_ADMIN for a network namespace (root)")
def test_a_server_left_in_another_network_namespace_is_restarted_here_and_back(cluster):
    cluster.up()
    in_new_namespace = (
        f"ip link set lo up && {sys.executable} -m tests.pgcluster up {cluster.dir} >/dev/null"
        f" && {PG_BIN}/pg_isready -q -h 127.0.0.1 -p $(cat {cluster.dir}/port)"
    )
    moved = subprocess.run(["unshare", "-n", "sh", "-c", in_new_namespace], cwd=REPO, capture_output=True, text=True)
    assert moved.returncode == 0, moved.stderr
    assert "runs but does not answer here: restarting it" in moved.stderr
    assert cluster.running()  # alive, in the namespace that unshare left behind
    assert answers(cluster.up())  # and back here
