#!/usr/bin/env bash
# An independent client in CI: flashforge-python-api (pinned below) discovers and
# drives a farm of all seven simulated models. See README.md next to this file.
#
#   ci/python-client/run.sh            # SKIPs (exit 0) without a network namespace
#   REQUIRE_NETNS=1 ci/python-client/run.sh   # CI: no namespace is a failure
#
# Environment: FLASHFORGE_BIN (the `flashforge` binary; default target/{debug,release}
# or a `cargo build -p flashforge-cli`), FF_PYCLIENT_VENV (venv directory, cached),
# PYTHON (interpreter for the venv, >= 3.11), REQUIRE_NETNS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=venv.sh
. "$here/venv.sh"
TOTAL_SECONDS=180

# Hard bound on everything below, the venv and a build included.
if [ -z "${FF_PYCLIENT_BOUNDED:-}" ]; then
    export FF_PYCLIENT_BOUNDED=1
    exec timeout --kill-after=5 "$TOTAL_SECONDS" "$0" "$@"
fi

export FF_PYCLIENT_T0=${FF_PYCLIENT_T0:-$(date +%s)}
say() { echo "python-client: $* ($(($(date +%s) - FF_PYCLIENT_T0)) s)"; }
skip_or_fail() {
    if [ "${REQUIRE_NETNS:-0}" = 1 ]; then
        echo "python-client: FAIL: $* (REQUIRE_NETNS=1)" >&2
        exit 1
    fi
    echo "python-client: SKIP: $* -- the Python client was NOT run (set REQUIRE_NETNS=1 to make this a failure)"
    exit 0
}

# shellcheck source=farm.env
. "$here/farm.env"

if [ -z "${FF_PYCLIENT_IN_NETNS:-}" ]; then
    # ---- outside the namespace: everything that needs the network or cargo ----
    if ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
        skip_or_fail "unshare or ip (iproute2) is missing"
    fi
    if [ "$(id -u)" != 0 ] || ! unshare -n true 2>/dev/null; then
        skip_or_fail "cannot create a network namespace (needs root; broadcast and multicast discovery must stay on loopback)"
    fi

    bin=${FLASHFORGE_BIN:-}
    if [ -z "$bin" ]; then
        target=${CARGO_TARGET_DIR:-$repo/target}
        for candidate in "$target/debug/flashforge" "$target/release/flashforge"; do
            if [ -x "$candidate" ]; then bin=$candidate; break; fi
        done
    fi
    if [ -z "$bin" ]; then
        say "no flashforge binary; cargo build -p flashforge-cli"
        (cd "$repo" && cargo build -q -p flashforge-cli)
        bin=${CARGO_TARGET_DIR:-$repo/target}/debug/flashforge
    fi
    [ -x "$bin" ] || { echo "python-client: FAIL: $bin is not executable" >&2; exit 1; }
    export FLASHFORGE_BIN=$bin

    pyclient_venv python-client || exit 1
    export FF_PYCLIENT_PYTHON=$venv/bin/python
    say "client $("$FF_PYCLIENT_PYTHON" -c 'import flashforge; print(flashforge.__version__)') on Python $want, simulator $FLASHFORGE_BIN"

    export FF_PYCLIENT_IN_NETNS=1
    exec unshare -n "$0" "$@"
fi

# ---- inside a fresh network namespace: only lo exists, and everything goes to it ----
ip link set lo up
ip route add 224.0.0.0/4 dev lo      # the client's multicast (225.0.0.9)
ip route add default dev lo          # its 255.255.255.255 broadcast
py=$FF_PYCLIENT_PYTHON
work=$(mktemp -d "${TMPDIR:-/tmp}/ff-pyclient-run.XXXXXX")
sim_pid=
stop_sim() {
    if [ -n "$sim_pid" ]; then
        kill "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
        sim_pid=
    fi
}
trap 'stop_sim; rm -rf "$work"' EXIT

read -ra models <<<"$FARM_MODELS"

start_sim() { # log-name, sim arguments...
    local name=$1
    shift
    "$FLASHFORGE_BIN" sim "$@" --check-code "$FARM_CHECK_CODE" --speed "$FARM_SPEED" --json \
        >"$work/$name.json" 2>"$work/$name.err" &
    sim_pid=$!
}
wait_sim() { # log-name, printer count
    if ! "$py" "$here/matrix.py" --sim-json "$work/$1.json" --wait-ready "$2"; then
        echo "python-client: FAIL: the simulator did not come up; its stderr:" >&2
        cat "$work/$1.err" >&2
        exit 1
    fi
}

status=0
say "farm: ${models[*]} from $FARM_FIRST_ADDRESS, standard ports, broadcast discovery"
args=(--bind-range "$FARM_FIRST_ADDRESS")
for m in "${models[@]}"; do args+=(-m "$m"); done
start_sim farm "${args[@]}"
wait_sim farm "${#models[@]}"
say "farm up"
"$py" "$here/matrix.py" --sim-json "$work/farm.json" --check-code "$FARM_CHECK_CODE" --broadcast \
    || status=$?
say "done, exit status $status"
exit "$status"
