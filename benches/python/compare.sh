#!/usr/bin/env bash
# Side by side with the Python reference client, flashforge-python-api (pinned below): the
# same reply bytes through both clients' parsers, then status round trips of both clients
# against one simulated Adventurer 5M on 127.0.0.1. See compare.py for the method.
#
#   benches/python/compare.sh              # tables on stdout, benches/python/results.json
#   benches/python/compare.sh --markdown   # also rewrites the section in benches/README.md
#
# Environment: PYTHON (interpreter for the venv, >= 3.11), FF_PYCLIENT_VENV (venv directory,
# cached; shared with ci/python-client/run.sh), CARGO_TARGET_DIR, FF_COMPARE_CALLS (round
# trips per client and kind, default 2000), FF_COMPARE_ROUNDS (interleaved rounds, default 10).
#
# Nothing leaves loopback: the simulator binds 127.0.0.1 only (it refuses other addresses
# without --allow-non-loopback), both clients get its address directly (no discovery), and
# the simulator is stopped on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../../ci/python-client/venv.sh
. "$repo/ci/python-client/venv.sh"
TOTAL_SECONDS=900

# Hard bound on everything below, the venv and the build included.
if [ -z "${FF_COMPARE_BOUNDED:-}" ]; then
    export FF_COMPARE_BOUNDED=1
    exec timeout --kill-after=5 "$TOTAL_SECONDS" "$0" "$@"
fi

markdown=0
for arg in "$@"; do
    case $arg in
    --markdown) markdown=1 ;;
    *) echo "usage: $0 [--markdown]" >&2; exit 2 ;;
    esac
done

t0=$(date +%s)
say() { echo "compare: $* ($(($(date +%s) - t0)) s)" >&2; }

# ---- the pinned client in a cached venv (same discovery and cache as ci/python-client) ----
pyclient_venv compare || exit 1
py=$venv/bin/python

# ---- our side: the simulator and the timing binary, release ----
target=${CARGO_TARGET_DIR:-$repo/target}
say "cargo build --release (flashforge, py_compare)"
(cd "$repo" && cargo build --release -q -p flashforge-cli --bin flashforge \
    -p flashforge-benches --bin py_compare)
ff=$target/release/flashforge
ours=$target/release/py_compare

work=$(mktemp -d "${TMPDIR:-/tmp}/ff-compare.XXXXXX")
sim_pid=
cleanup() {
    if [ -n "$sim_pid" ]; then
        kill "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- parsers: identical bytes for both ----
"$ours" inputs "$work/inputs"
say "timing our parsers"
"$ours" parse "$work/inputs" >"$work/rust-parse.json" 2>"$work/rust-parse.err" || {
    cat "$work/rust-parse.err" >&2
    exit 1
}

# ---- one simulated Adventurer 5M on loopback, free ports ----
check_code=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
"$ff" sim -m 5m --bind 127.0.0.1 --tcp-port 0 --http-port 0 --udp-port 0 \
    --serial SNPYCOMPARE0001 --check-code "$check_code" --json \
    >"$work/sim.json" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 100); do
    [ -s "$work/sim.json" ] && break
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
done
if ! [ -s "$work/sim.json" ]; then
    echo "compare: FAIL: the simulator did not come up:" >&2
    cat "$work/sim.err" >&2
    exit 1
fi
say "simulator up: $(head -c 200 "$work/sim.json")"

args=(--inputs "$work/inputs" --rust-parse "$work/rust-parse.json" --rust-bin "$ours"
    --sim-json "$work/sim.json" --check-code "$check_code"
    --calls "${FF_COMPARE_CALLS:-2000}" --rounds "${FF_COMPARE_ROUNDS:-10}"
    --out "$here/results.json" --started "$t0")
[ "$markdown" = 1 ] && args+=(--readme "$repo/benches/README.md")
say "timing the Python client's parsers, then the round trips"
"$py" "$here/compare.py" "${args[@]}"
say "done: $here/results.json"
