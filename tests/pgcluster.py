"""A throwaway PostgreSQL cluster of our own: the one way the tests and the demo get a server.

    python3 -m tests.pgcluster up DIR     create (first time) and start it; print its URL
    python3 -m tests.pgcluster down DIR   stop it and delete DIR

`initdb -E UTF8 --locale=C.UTF-8` (a locale every glibc has, whatever the caller's LANG), on a
free loopback port, no Unix socket, scram-sha-256 for every connection with a generated
password kept in DIR/password (0600): the password paths run exactly as in production. As
root, the server runs as the `postgres` user (initdb refuses root); when that user cannot reach
DIR (a clone under /root), the data lives in its home and DIR/data is a symlink to it.
A cluster left running by an earlier run is reused; one recorded but not answering (a reboot, a
killed server, a new network namespace) is started again, or made anew. Standard library only, so that `down`
works without the virtualenv.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")  # Debian's postgresql-15, which scripts/lib.sh installs
LOCALE = "C.UTF-8"
SUPERUSER = "postgres"
# Throwaway data: durability is not wanted, speed is (the suite creates hundreds of databases).
SETTINGS = """\
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
"""


class ClusterError(Exception):
    """One line saying why the cluster could not be made, started or removed."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Cluster:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory).absolute()
        self.as_root = os.geteuid() == 0
        try:
            self.owner = pwd.getpwnam(SUPERUSER) if self.as_root else None
        except KeyError:
            self.owner = None

    @property
    def data(self) -> Path:
        return (self.dir / "data").resolve()

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A PostgreSQL program, as the unprivileged owner, in the C.UTF-8 locale and no PG* settings."""
        prefix = ["runuser", "-u", SUPERUSER, "--"] if self.owner else []
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": LOCALE, "LANG": LOCALE}
        return subprocess.run([*prefix, *args], env=env, capture_output=True, text=True)

    def _give(self, path: Path) -> None:
        if self.owner:
            os.chown(path, self.owner.pw_uid, self.owner.pw_gid)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Two runs at once (a focused pytest beside ./scripts/test) must not both initdb or start."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def running(self) -> bool:
        return self._postmaster() is not None

    def _postmaster(self) -> int | None:
        """The pid in postmaster.pid when that process is this cluster's server (its working
        directory is the data directory), else None: the pid a server left when it died (a reboot,
        a container restart, a kill) may be another process's now, which must not be signalled."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
            return pid if Path(f"/proc/{pid}/cwd").resolve(strict=True) == self.data else None
        except (OSError, ValueError):
            return None

    def _answering(self) -> bool:
        """The server accepts connections here, on its recorded port: a server started in another
        network namespace runs, but is not reachable from this one."""
        port_file = self.dir / "port"
        if not port_file.exists():
            return False
        port = port_file.read_text().strip()
        ready = self._run(str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", port, "-t", "5")
        return ready.returncode == 0

    def up(self) -> str:
        """The superuser's URL (with its password) to the running cluster, made and started as needed."""
        if not (PG_BIN / "initdb").exists():
            raise ClusterError(f"PostgreSQL 15 is not installed ({PG_BIN}): apt-get install postgresql-15")
        if self.as_root and not self.owner:
            raise ClusterError(f"as root, the server runs as the {SUPERUSER} user, and there is none")
        with self._locked():
            self._retire_trust_cluster()
            if not (self.dir / "password").exists() or not (self.data / "PG_VERSION").exists():
                self._create()
            if not (self.running() and self._answering()):
                self._start_again()
            port = (self.dir / "port").read_text().strip()
            password = (self.dir / "password").read_text().strip()
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/postgres"

    def _data_home(self) -> Path:
        """DIR/data, unless the server's user cannot reach DIR: then a directory in its home."""
        if not self.owner or self._run("test", "-x", str(self.dir)).returncode == 0:
            return self.dir / "data"
        name = hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]
        return Path(self.owner.pw_dir) / "fleettickets" / name

    def _create(self) -> None:
        print(f"creating a throwaway PostgreSQL cluster in {self.dir}", file=sys.stderr)
        self._stop()
        self._remove_data()  # what a killed earlier attempt may have left
        self.dir.chmod(0o755 if self.owner else 0o700)
        data = self._data_home()
        if data != self.dir / "data":
            for d in (data.parent, data):
                d.mkdir(mode=0o700, exist_ok=True)
                self._give(d)
            (self.dir / "data").symlink_to(data)
        else:
            data.mkdir(mode=0o700)
            self._give(data)
        password = secrets.token_urlsafe(24)
        pwfile = data.parent / f"{data.name}.pw"  # where the server's user can read it
        old = os.umask(0o077)
        try:
            (self.dir / "password").write_text(password + "\n")
            pwfile.write_text(password + "\n")
            self._give(pwfile)
            initdb = self._run(
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                f"--locale={LOCALE}",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            )
        finally:
            pwfile.unlink(missing_ok=True)
            os.umask(old)
        if initdb.returncode != 0:
            raise ClusterError(f"initdb failed in {data}: {last_line(initdb.stderr)}")
        with open(data / "postgresql.conf", "a") as conf:
            conf.write("\n# the throwaway cluster's own settings (tests/pgcluster.py)\ninclude 'fleettickets.conf'\n")

    def _start_again(self) -> None:
        """Start a cluster that is recorded but not answering: stop its server first if it runs
        unreachable from here, drop a postmaster.pid its dead server left, and make the cluster
        anew (throwaway data) if it still does not start."""
        if self.running():
            print(f"the cluster in {self.dir} runs but does not answer here: restarting it", file=sys.stderr)
            self._stop()
        else:
            # Left by a server that is gone; PostgreSQL would refuse to start while that pid is alive.
            (self.data / "postmaster.pid").unlink(missing_ok=True)
        try:
            self._start()
        except ClusterError as e:
            print(f"{e}; making the cluster anew", file=sys.stderr)
            self._remove_data()
            self._create()
            self._start()

    def _start(self) -> None:
        """On the port it had, when that is still free (stable URLs), else on a new free one."""
        port_file = self.dir / "port"
        port = int(port_file.read_text()) if port_file.exists() else 0
        for attempt in range(3):
            if not port or not port_is_free(port) or attempt:
                port = free_port()
            # In the data directory, so that a hand-run `pg_ctl -D DIR/data start` gets the same server.
            conf = self.data / "fleettickets.conf"
            conf.write_text(f"{SETTINGS}port = {port}\n")
            self._give(conf)
            port_file.write_text(f"{port}\n")
            log = self.data / "server.log"
            started = self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60", "start")
            if started.returncode == 0:
                return
            if "could not bind" not in log.read_text(errors="replace"):  # a port taken since it was checked
                break
        raise ClusterError(f"the cluster in {self.dir} did not start: see {log}")

    def down(self) -> bool:
        """Stops the cluster and deletes DIR; False when there was nothing."""
        if not self.dir.exists():
            return False
        with self._locked():
            self._retire_trust_cluster()
            self._stop()
            self._remove_data()
            shutil.rmtree(self.dir)
        return True

    def _retire_trust_cluster(self) -> None:
        """The scripts' earlier clusters were DIR itself, with trust authentication: stop and empty it."""
        if not (self.dir / "PG_VERSION").exists():
            return
        print(f"replacing the trust-auth cluster in {self.dir} with a password one", file=sys.stderr)
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w", "stop")  # when running
        for entry in self.dir.iterdir():
            if entry.name != ".lock":
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()

    def _stop(self) -> None:
        if self.running():
            stopped = self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
            if stopped.returncode != 0:
                raise ClusterError(f"could not stop the cluster in {self.dir}: {last_line(stopped.stderr)}")

    def _remove_data(self) -> None:
        link = self.dir / "data"
        if link.is_symlink():
            target = link.resolve()
            shutil.rmtree(target, ignore_errors=True)
            link.unlink()
            with suppress(OSError):
                target.parent.rmdir()  # the server's user's fleettickets/, once it holds no other cluster
        elif link.exists():
            shutil.rmtree(link)
        for name in ("password", "port"):
            (self.dir / name).unlink(missing_ok=True)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print("usage: python3 -m tests.pgcluster up|down DIR", file=sys.stderr)
        return 2
    cluster = Cluster(Path(argv[1]))
    try:
        if argv[0] == "up":
            print(cluster.up())
        elif cluster.down():
            print(f"stopped the cluster in {cluster.dir} and deleted it", file=sys.stderr)
        else:
            print(f"no cluster in {cluster.dir}: nothing to do", file=sys.stderr)
    except ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
