# Shared set-up for scripts/test and scripts/demo: everything a fresh machine of this kind lacks.
# Debian + Python 3.11 assumed; PostgreSQL 15 packages come from Debian.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BIN=/usr/lib/postgresql/15/bin

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# PostgreSQL 15 server binaries and PostGIS 3, and GDAL's ogrinfo (the GIS tests), from Debian, if missing.
ensure_postgis() {
    if [ -x "$PG_BIN/postgres" ] && [ -f /usr/share/postgresql/15/extension/postgis.control ] \
        && command -v ogrinfo >/dev/null; then return; fi
    echo "installing postgresql-15, postgresql-15-postgis-3 and gdal-bin (apt)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 postgresql-15-postgis-3 gdal-bin >/dev/null
}

# .venv with the package and its test extra; reinstalled only when pyproject.toml changes.
ensure_venv() {
    local stamp="$ROOT/.venv/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    [ -f "$stamp" ] && return
    echo "installing the Python package into .venv"
    [ -x "$ROOT/.venv/bin/python" ] || python3 -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/pip" install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
    "$ROOT/.venv/bin/pip" install -q -e "$ROOT[test]" 2>&1 | grep -v '^WARNING: Location' || true
    "$ROOT/.venv/bin/python" -c "import fleettickets, moto, pytest_httpserver" # fail loudly if pip did
    rm -f "$ROOT"/.venv/.installed-* && touch "$stamp"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Starts (creating it the first time) a PostgreSQL cluster of our own in DIR on a free port,
# with the system's initdb/pg_ctl; sets CLUSTER_URL to its postgres database.
start_cluster() {
    local dir="$1" run=()
    [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)   # initdb refuses to run as root
    if [ ! -f "$dir/PG_VERSION" ]; then
        echo "creating a throwaway PostgreSQL cluster in $dir"
        mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres: "$dir"
        "${run[@]}" "$PG_BIN/initdb" -D "$dir" -U postgres -A trust >/dev/null
    fi
    [ -f "$dir/fleettickets.port" ] || free_port > "$dir/fleettickets.port"
    local port; port=$(cat "$dir/fleettickets.port")
    if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port"; then
        "${run[@]}" "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
    fi
    CLUSTER_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

stop_cluster() {
    local dir="$1" run=()
    [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
    [ -f "$dir/postmaster.pid" ] && "${run[@]}" "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
}

# Sets PG_ADMIN_URL to a reachable server with PostGIS available: the machine's own on 5432
# (started if it is merely stopped), else a throwaway cluster in .pgdata/.
ensure_postgres() {
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p 5432; then
        PG_ADMIN_URL="postgresql://postgres@127.0.0.1:5432/postgres"; return
    fi
    if [ -d /etc/postgresql/15/main ] && command -v pg_ctlcluster >/dev/null; then
        as_root pg_ctlcluster --skip-systemctl-redirect 15 main start || true
        if "$PG_BIN/pg_isready" -q -t 10 -h 127.0.0.1 -p 5432; then
            PG_ADMIN_URL="postgresql://postgres@127.0.0.1:5432/postgres"; return
        fi
    fi
    start_cluster "$ROOT/.pgdata"
    PG_ADMIN_URL="$CLUSTER_URL"
}
