#!/usr/bin/env bash
# The scheduled job of one dataset, as a Coolify Scheduled Task in the container or with cron on a
# plain host; one task per dataset, side by side (each has its own lock):
#   CRON_TZ=Africa/Nairobi
#   */20 6-20 * * * /opt/fleettickets/run_ingest.sh inc >> /var/log/fleettickets-inc.log 2>&1
#   */20 6-20 * * * /opt/fleettickets/run_ingest.sh crq >> /var/log/fleettickets-crq.log 2>&1
# DATASET is inc (the default) or crq. Loads .env beside this script, applies pending migrations and
# ingests the dataset's newest snapshot and every pending change file. The INC task, when
# GEOCODER_API_KEY is set, then geocodes the new places of both datasets (the gazetteer is shared;
# one task geocoding, so the two never wait on each other's lock) within a request budget per run
# (GEOCODE_BUDGET, default 50: 45 runs a day stay within both providers' free daily quotas). The
# exit status is non-zero if any step failed, or if the newest file the exporter produced for the
# dataset is older than FLEETTICKETS_MAX_AGE_HOURS (default 3; empty: no freshness alarm): that
# exit status is the alarm cron mails and Coolify notifies.
set -uo pipefail
dataset="${1:-inc}"
case "$dataset" in
    inc | crq) ;;
    *)
        echo "run_ingest.sh: error: no dataset '$dataset': the datasets are inc and crq" >&2
        exit 2
        ;;
esac
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

"$fleettickets" migrate || exit 1
max_age=()
[ -n "${FLEETTICKETS_MAX_AGE_HOURS-3}" ] && max_age=(--max-age-hours "${FLEETTICKETS_MAX_AGE_HOURS-3}")
"$fleettickets" ingest --from-bucket --apply --dataset "$dataset" "${max_age[@]}"
status=$?  # a stale feed still loads and geocodes; the alarm is the exit status at the end
if [ "$dataset" = inc ] && [ -n "${GEOCODER_API_KEY:-}" ]; then
    "$fleettickets" geocode clusters --apply || status=1
    "$fleettickets" geocode locations --apply --dataset all --limit "${GEOCODE_BUDGET:-50}" || status=1
fi
exit "$status"
