"""Migrations as released, read from git: the databases that exist out there were built from them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import psycopg

from fleettickets import migrate

REPO = Path(__file__).resolve().parent.parent
DEPLOYED = "8ee2df1"  # the release deployed databases run: migrations 01-15
MAIN_BEFORE = "fdb3b291238e8b932bf40351e9ecb658814efc77"  # main before the R__ files: 01-21


def _git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=True).stdout


def released_files(commit: str) -> dict[str, bytes]:
    """The migration files of `commit`, by name, in order."""
    names = sorted(Path(p).name for p in _git("ls-tree", "--name-only", commit, "migrations/").decode().split())
    return {name: _git("show", f"{commit}:migrations/{name}") for name in names}


def write_released(commit: str, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name, content in released_files(commit).items():
        (target / name).write_bytes(content)
    return target


def migrate_as_released(url: str, commit: str) -> list[str]:
    """What the released runner did: its ledger, then each file of `commit`, in order, with its ledger row."""
    files = released_files(commit)
    runner = _git("show", f"{commit}:fleettickets/migrate.py").decode()
    ledger = re.search(r'^LEDGER_DDL = """(.*?)"""', runner, re.MULTILINE | re.DOTALL)
    assert ledger, f"no LEDGER_DDL in {commit}:fleettickets/migrate.py"
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(ledger.group(1))
        for script, content in files.items():
            version, name = script.removesuffix(".sql").split("_", 1)
            with c.transaction():
                c.execute(content.decode("utf-8-sig"))
                c.execute(
                    "INSERT INTO tickets.schema_migrations (version, name, script, checksum, execution_ms)"
                    " VALUES (%s, %s, %s, %s, 0)",
                    (int(version), name, script, migrate.checksum(content)),
                )
    return list(files)
