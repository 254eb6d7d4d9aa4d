# shellcheck shell=bash disable=SC2034  # (variables here are used by the scripts that source it)
# Sourced by scripts/demo and scripts/test: install what the build needs, then configure and
# build a meson build directory. Not meant to be run on its own.

# The Debian 12 packages weft needs to build, test and package itself (CMake and pkg-config
# are used by the consumer tests).
WEFT_PACKAGES=(meson ninja-build g++ pkg-config libboost1.81-dev libboost-context1.81-dev
               libfmt-dev catch2 cmake python3 liburing-dev)
# Used by tests of the plain build: redis-cli drives samples/mini_kv; doxygen checks that every
# public symbol is documented (scripts/docs); clang-format is the format gate (scripts/format).
WEFT_TEST_PACKAGES=(redis-tools doxygen clang-format)
# Only for `scripts/test --browser` (headless Chromium against weft::console).
WEFT_BROWSER_PACKAGES=(chromium)
# Only for `scripts/bench --kv` (mini_kv against a real Redis server).
WEFT_KV_BENCH_PACKAGES=(redis-server redis-tools)
# scripts/bench --http: the load generator.
WEFT_HTTP_BENCH_PACKAGES=(wrk)

# Options of the plain build (build/), shared by scripts/demo and scripts/test so they reuse one
# build directory: everything on, no sanitizer.
WEFT_PLAIN_OPTIONS=(-Db_sanitize=none -Dtests=true -Dsamples=true -Dbench=true
                    -Dconsumer_tests=true -Dheader_check=true)

WEFT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# weft_usage SCRIPT: prints SCRIPT's leading comment block (its usage).
weft_usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$1"; }

weft_log() { printf '\n== %s\n' "$*"; }
weft_die() { printf '\nerror: %s\n' "$*" >&2; exit 1; }

# weft_ensure_packages [PACKAGE...]: installs the missing ones among PACKAGE... (default:
# WEFT_PACKAGES) with apt-get as root (one `apt-get update` first, and only when something is
# missing); otherwise prints the command to run and fails.
weft_ensure_packages() {
    local wanted=("$@")
    ((${#wanted[@]})) || wanted=("${WEFT_PACKAGES[@]}")
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "note: not a Debian system; make sure these (or their equivalents) are installed:"
        echo "      ${wanted[*]}"
        return 0
    fi
    local missing=() pkg
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    local cmd="apt-get install -y --no-install-recommends ${missing[*]}"
    if [[ $(id -u) -ne 0 ]]; then
        echo "weft needs these Debian packages: ${missing[*]}" >&2
        echo "Install them with:" >&2
        echo "  sudo apt-get update && sudo $cmd" >&2
        exit 1
    fi
    weft_log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update
    DEBIAN_FRONTEND=noninteractive $cmd
}

# weft_configure DIR [meson options...]: sets DIR up, or reconfigures it with these options if
# it already exists (reconfiguring also picks up headers added since, for the header check).
# meson's output is shown only when it fails, apart from its warnings.
weft_configure() {
    local dir=$1
    shift
    local log
    log=$(mktemp)
    local setup=(meson setup "$dir" "$WEFT_ROOT" "$@")
    if [[ -f $dir/meson-private/coredata.dat ]]; then
        setup=(meson setup --reconfigure "$dir" "$WEFT_ROOT" "$@")
    fi
    weft_log "configuring $dir: ${setup[*]}"
    if ! "${setup[@]}" >"$log" 2>&1; then
        cat "$log"
        rm -f "$log"
        weft_die "meson could not configure $dir (if it was made by another meson version, delete it and run again)"
    fi
    grep -E '^(WARNING|DEPRECATION)' "$log" || true
    rm -f "$log"
}

# weft_build DIR [targets...]
weft_build() {
    local dir=$1
    shift
    weft_log "building $dir${*:+ ($*)}"
    ninja -C "$dir" "$@" || weft_die "the build failed in $dir (the compiler's message is above)"
}
