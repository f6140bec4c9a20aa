"""Migrations as released: the databases that exist out there were built from them.

The tests replay them from fixtures, tests/releases/<release>.tar (its migrations/, and ledger.sql:
the ledger its runner made), so they need no git history: a shallow clone or a source tarball runs
them. `.venv/bin/python -m tests.released` writes the fixtures again from the commits below (that
needs the history); the files in them are the commits' bytes and the archive is written the same way
every time (names sorted, no owner, no clock), so a second run changes nothing. One archive a
release: released files are frozen history, not code to read beside the live migrations.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import psycopg

from fleettickets import migrate

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).with_name("releases")
DEPLOYED = "deployed-01-15"  # the release deployed databases run: migrations 01-15
MAIN_BEFORE = "main-01-21"  # main before the R__ files: 01-21
COMMITS = {
    DEPLOYED: "8ee2df164ea20e84211653f4292ee1042385a794",
    MAIN_BEFORE: "fdb3b291238e8b932bf40351e9ecb658814efc77",
}


def _fixture(release: str) -> dict[str, bytes]:
    """Every file of `release`'s fixture, by its path in the archive."""
    with tarfile.open(FIXTURES / f"{release}.tar") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def released_files(release: str) -> dict[str, bytes]:
    """The migration files of `release`, by name, in order."""
    files = _fixture(release)
    return {path.removeprefix("migrations/"): files[path] for path in sorted(files) if path.startswith("migrations/")}


def write_released(release: str, target: Path) -> Path:
    target.mkdir(parents=True)
    for name, content in released_files(release).items():
        (target / name).write_bytes(content)
    return target


def migrate_as_released(url: str, release: str) -> list[str]:
    """What the released runner did: its ledger, then each file of `release`, in order, with its ledger row."""
    files = released_files(release)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(_fixture(release)["ledger.sql"].decode())
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


# -- writing the fixtures from git -----------------------------------------------------------------


def _git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=True).stdout


def write_fixtures(release: str, commit: str) -> None:
    """tests/releases/<release>.tar anew: the commit's migrations/ and its runner's LEDGER_DDL."""
    names = sorted(Path(p).name for p in _git("ls-tree", "--name-only", commit, "migrations/").decode().split())
    runner = _git("show", f"{commit}:fleettickets/migrate.py").decode()
    ledger = re.search(r'^LEDGER_DDL = """\n(.*?)"""', runner, re.MULTILINE | re.DOTALL)
    if not names or not ledger:
        sys.exit(f"error: {commit} has no migrations/ or no LEDGER_DDL in fleettickets/migrate.py")
    files = {f"migrations/{name}": _git("show", f"{commit}:migrations/{name}") for name in names}
    files["ledger.sql"] = (
        f"-- LEDGER_DDL of fleettickets/migrate.py at {commit}, written by `python -m tests.released`\n"
        + ledger.group(1)
    ).encode()
    with tarfile.open(FIXTURES / f"{release}.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(files[path]), 0o644  # no owner, no clock: the same bytes every time
            tar.addfile(info, io.BytesIO(files[path]))
    print(f"{release}: {len(names)} migrations and the ledger of {commit[:12]}")


def main() -> None:
    for release, commit in COMMITS.items():
        try:
            _git("cat-file", "-e", f"{commit}^{{commit}}")
        except subprocess.CalledProcessError:
            sys.exit(f"error: commit {commit} is not in this checkout's history (git fetch --unshallow first)")
        write_fixtures(release, commit)


if __name__ == "__main__":
    main()
