"""The built wheel holds only what production runs (the package and its migrations), and applies the
migrations from outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from fleettickets import migrate

REPO = Path(__file__).resolve().parent.parent


def test_wheel_installed_elsewhere_migrates_a_new_database(tmp_path, empty_db_url):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("fleettickets-*.whl"))
    packaged = {n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n}
    assert {n for n in packaged if n.startswith("fleettickets/migrations/")} == {
        f"fleettickets/migrations/{m.script}" for m in migrate.discover()
    }
    # only what production runs: the package's modules, the review page's static files and the
    # migrations (no devtools/, tests/, bench/)
    production = {p.relative_to(REPO).as_posix() for p in (REPO / "fleettickets").rglob("*.py")}
    production |= {
        p.relative_to(REPO).as_posix() for p in (REPO / "fleettickets/review/static").rglob("*") if p.is_file()
    }
    migrations = {f"fleettickets/{p.relative_to(REPO).as_posix()}" for p in (REPO / "migrations").iterdir()}
    assert packaged == production | migrations

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "DATABASE_URL": empty_db_url}
    where = subprocess.run(
        [sys.executable, "-c", "import fleettickets; print(fleettickets.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site))  # the wheel's copy, not the repository's
    result = subprocess.run(
        [sys.executable, "-m", "fleettickets", "migrate"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"migrations: applied {len(migrate.discover())}, already applied 0")
