# Shared set-up for scripts/test and scripts/demo: what a fresh Debian 12 machine lacks, and
# nothing more. The PostgreSQL server itself is a throwaway cluster of their own (tests/pgcluster.py).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Every Debian package the two commands need: the one list to extend. The server binaries and
# PostGIS for the throwaway clusters; GDAL's ogrinfo for the GIS tests; Debian's Chromium for the review
# page's browser test (playwright drives it: no browser download; its bundled node needs libatomic1,
# which a minimal Debian lacks); the venv module when Python lacks it.
APT_PACKAGES=(postgresql-15 postgresql-15-postgis-3 gdal-bin chromium libatomic1)
python3 -c 'import ensurepip, venv' 2>/dev/null || APT_PACKAGES+=(python3-venv)

# Installs the packages of APT_PACKAGES that are not installed, without recommended ones
# (as root, or through sudo); otherwise names them and the command, and stops.
ensure_packages() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
    done
    [ ${#missing[@]} = 0 ] && return
    local install=(apt-get install --no-install-recommends "${missing[@]}")
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "error: missing Debian packages: ${missing[*]}; as root, run: apt-get update && ${install[*]}" >&2
            exit 1
        fi
        sudo=(sudo)
    fi
    echo "installing ${missing[*]} (${install[*]})"
    "${sudo[@]}" apt-get update -qq
    # Debian's postinst also creates and starts its default cluster ("main"): nothing here uses it.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "${install[@]}" -y -qq >/dev/null
}

# .venv with the package and its test extra; reinstalled only when pyproject.toml changes.
# A failing pip stops the script (pipefail) with pip's own error; only the warnings about
# pip.conf's local indexes that a machine may lack are left out.
pip_install() { "$ROOT/.venv/bin/pip" install -q "$@" 2>&1 | sed '/^WARNING: Location .* is ignored/d'; }

ensure_venv() {
    local stamp
    stamp="$ROOT/.venv/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    [ -f "$stamp" ] && return
    echo "installing the Python package and its test extra into .venv (pip)"
    [ -x "$ROOT/.venv/bin/python" ] || python3 -m venv "$ROOT/.venv"
    pip_install --upgrade pip
    pip_install -e "$ROOT[test]"
    rm -f "$ROOT"/.venv/.installed-* && touch "$stamp"
}

# The Debian mirror apt already uses (the first uncommented one that is not the security archive),
# for debootstrap (scripts/fresh-machine-check, scripts/docker-check).
debian_mirror() {
    local mirror
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | sed 's/#.*//' | grep -o -E 'https?://[^ ]+/debian/?' | grep -v security | head -n1 || true)
    mirror="${mirror:-http://deb.debian.org/debian}"
    echo "${mirror%/}"
}
