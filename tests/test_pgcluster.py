"""The throwaway cluster the tests and the demo run on (tests/pgcluster.py), made for real."""

from __future__ import annotations

import stat

import psycopg
import pytest

from tests.pgcluster import Cluster


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
