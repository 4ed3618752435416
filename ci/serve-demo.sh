#!/usr/bin/env bash
# `flashforge serve --demo` as the README gives it: the banner's dashboard link, then the API
# behind its token (every model listed), /metrics, and 401 without the token.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p flashforge-cli
bin="${CARGO_TARGET_DIR:-target}/debug/flashforge"
out=$(mktemp)
"$bin" serve --demo --listen 127.0.0.1:0 --duration 30 >"$out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 100); do
    grep -q "dashboard:" "$out" && break
    sleep 0.1
done
url=$(grep -o 'http://[^ ]*#token=[0-9a-f]*' "$out") || {
    echo "serve --demo printed no dashboard link:" >&2
    cat "$out" >&2
    exit 1
}
base=${url%%/#token=*}
token=${url##*#token=}
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/printers")
[ "$code" = 401 ] || { echo "no token: $code" >&2; exit 1; }
# Bodies are read whole before they are examined: `curl | grep -q` fails under pipefail with
# curl's exit 23 (write error) whenever grep quits before curl has written everything.
n=0
for _ in $(seq 1 100); do
    body=$(curl -s -H "Authorization: Bearer $token" "$base/api/v1/printers") || body=
    n=$(printf '%s' "$body" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(p["online"] for p in d["printers"]))' 2>/dev/null) || n=0
    [ "$n" = 7 ] && break
    sleep 0.2
done
[ "$n" = 7 ] || { echo "online printers: $n of 7" >&2; exit 1; }
metrics=$(curl -sf -H "Authorization: Bearer $token" "$base/metrics")
grep -q '^flashforge_printer_online' <<<"$metrics" || { echo "/metrics has no flashforge_printer_online" >&2; exit 1; }
page=$(curl -sf "$base/")
grep -qi '<!doctype html' <<<"$page" || { echo "/ is not the dashboard page" >&2; exit 1; }
echo "serve --demo: 7 printers online at $base"
