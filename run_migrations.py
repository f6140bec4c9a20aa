"""Apply pending migrations: the same as `fleettickets migrate`."""

import sys

from fleettickets.cli import app

if __name__ == "__main__":
    app(["migrate", *sys.argv[1:]], prog_name="run_migrations.py")
