#!/usr/bin/env bash
# The hourly job for a plain host with cron:
#   CRON_TZ=Africa/Nairobi
#   15 7-19 * * * /opt/fleettickets/run_ingest.sh >> /var/log/fleettickets.log 2>&1
# Loads .env beside this script, applies pending migrations, ingests the newest snapshot, and,
# when GEOCODER_API_KEY is set, geocodes new places within a request budget per run
# (GEOCODE_BUDGET, default 200). The exit status is non-zero if any step failed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -f "$here/.env" ]; then
    set -a
    # shellcheck disable=SC1091
    . "$here/.env"
    set +a
fi
: "${DATABASE_URL:?is not set (see .env.example)}"
: "${RUSTFS_ENDPOINT:?is not set (see .env.example)}"
: "${RUSTFS_ACCESS_KEY:?is not set (see .env.example)}"
: "${RUSTFS_SECRET_KEY:?is not set (see .env.example)}"

fleettickets="$here/.venv/bin/fleettickets"
[ -x "$fleettickets" ] || fleettickets=fleettickets

"$fleettickets" migrate
"$fleettickets" ingest --from-bucket --apply
if [ -n "${GEOCODER_API_KEY:-}" ]; then
    "$fleettickets" geocode clusters --apply
    "$fleettickets" geocode locations --apply --limit "${GEOCODE_BUDGET:-200}"
fi
