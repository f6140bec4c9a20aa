"""run_ingest.sh, the scheduled task: migrate, ingest and geocode end to end; a missing setting stops it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg

from devtools.geocoder import DevGeocoder
from tests.conftest import CONTRACT_NAMES
from tests.helpers import csv_text, record

REPO = Path(__file__).resolve().parent.parent


def test_run_ingest_sh_end_to_end(store, empty_db_url, tmp_path):
    store.put("automations/inc/2026-06-15T07-00-00.csv", csv_text([record("T1"), record("T2")]))
    with DevGeocoder() as provider:
        env = {
            **{k: v for k, v in os.environ.items() if k not in CONTRACT_NAMES},
            **store.env(empty_db_url),
            "GEOCODER_API_KEY": "k",
            "GEOCODER_BASE_URL": provider.url,
            "GEOCODER_RATE": "100",
            "GEOCODE_BUDGET": "5",
            "FLEETTICKETS_MAX_AGE_HOURS": "",  # the file is stamped months ago: no freshness alarm here
        }
        result = subprocess.run([str(REPO / "run_ingest.sh")], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "migrations: applied" in out and "ingested automations/inc/2026-06-15T07-00-00.csv" in out
    assert "geocoded clusters:" in out and "geocoded locations:" in out
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("SELECT geo_source, count(*) FROM tickets.inc GROUP BY 1").fetchall() == [("location", 2)]


def test_run_ingest_sh_fails_fast_on_a_missing_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_NAMES}
    result = subprocess.run([str(REPO / "run_ingest.sh")], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0 and "DATABASE_URL: is not set (see .env.example)" in result.stderr
