#!/usr/bin/env bash
# skew-profile.sh: where the skew scenario's tail comes from. Runs the matrix's skew
# load (64 B, 100 connections, depth 1, 10% heavy at 20× the depth; server and
# echoload unpinned, two runners / threads, GOMAXPROCS=2) against examples/echo and
# the Asio server in turn, and reports for each run the light connections' p50 and
# p99, the server's messages a second and CPU per message, and its threads' context
# switches in the middle 2.6 s of the window: voluntary (waiting for work) and
# involuntary (preempted: three busy threads share two cores). For coio it also reads
# the engine's own busy time per handler from its /metrics (coio_runner_busy_seconds
# over coio_handlers_total), which counts the time a runner's thread is off its core
# while it holds a handler.
#
# Usage: bench/scripts/skew-profile.sh [--rounds 3] [--out DIR]
set -euo pipefail

rounds=3
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "skew-profile.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

bench=$(cd "$(dirname "$0")/.." && pwd)
flags=()
# shellcheck source=servers.sh
. "$bench/scripts/servers.sh"
build_servers coio asio
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "$prog: $tool is needed" >&2; exit 1; }
done

# ctxsw PID: the voluntary and involuntary context switches of all its threads (0 0
# for a process that is gone; a thread that exits meanwhile counts nothing).
ctxsw() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^voluntary_ctxt_switches/{v+=$2} /^nonvoluntary_ctxt_switches/{n+=$2} END{print v+0, n+0}'
}
# scrape PORT: coio's handlers run and runner busy seconds (0 0 if /metrics fails).
scrape() {
  curl -s --max-time 2 "http://127.0.0.1:$1/metrics" |
    awk '/^coio_handlers_total /{h=$2} /^coio_runner_busy_seconds_total /{b=$2} END{print h+0, b+0}'
}

stamp=$(date -u +%Y%m%d-%H%M%S)
md="$out/skew-profile-$stamp.md"
commit=$(cd "$repo" && git rev-parse --short HEAD)
{
  echo "# Skew: where the light connections' tail comes from"
  echo
  echo "$(date -u +%Y-%m-%d) · coio $commit · $(machine)"
  echo "64 B × 100 connections × depth 1, 10% heavy at 20×; server and echoload unpinned, two runners / threads, GOMAXPROCS=2; 1 s warm-up + 3 s window; switches counted over the middle 2.6 s. Made by \`bench/scripts/skew-profile.sh\`."
  echo
  echo "| round | server | light p50 µs | light p99 µs | msgs/s | server µs/msg | voluntary switches | preempted | busy µs per handler |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
} >"$md"

port=18500
for round in $(seq 1 "$rounds"); do
  for srv in coio asio; do
    port=$((port + 2))
    rm -f "$tmp/server.log" # started waits for this run's log, not the last one's
    if [ "$srv" = coio ]; then
      GOMAXPROCS=2 "$tmp/echo" -runners 2 -metrics "127.0.0.1:$((port + 1))" -addr "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
    else
      "$tmp/asio" -threads 2 -addr "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
    fi
    spid=$!
    started
    "$tmp/echoload" -addr "127.0.0.1:$port" -conns 100 -size 64 -depth 1 -skew 0.1 -skew-factor 20 \
      -warmup 1s -duration 3s -server-pid "$spid" -json >"$tmp/load.json" &
    lp=$!
    sleep 1.2
    read -r v0 n0 < <(ctxsw "$spid")
    h0=0 b0=0 h1=0 b1=0
    [ "$srv" = coio ] && read -r h0 b0 < <(scrape $((port + 1)))
    sleep 2.6
    read -r v1 n1 < <(ctxsw "$spid")
    [ "$srv" = coio ] && read -r h1 b1 < <(scrape $((port + 1)))
    wait "$lp" || echo "$prog: echoload failed against $srv (round $round)" >&2
    kill -TERM "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    python3 - "$tmp/load.json" "$round" "$srv" "$((v1 - v0))" "$((n1 - n0))" "$h0" "$b0" "$h1" "$b1" <<'PY' | tee -a "$md"
import json, sys
d = json.load(open(sys.argv[1]))
rnd, srv, vol, inv = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
h0, b0, h1, b1 = map(float, sys.argv[6:10])
light = d.get("light") or {}
busy = "%.2f" % ((b1 - b0) * 1e6 / (h1 - h0)) if h1 > h0 else "–"
print("| %s | %s | %.0f | %.0f | %.0f | %.2f | %s | %s | %s |" % (rnd, srv, light.get("p50_us", 0), light.get("p99_us", 0),
      d["msgs_per_s"], d["server_cpu_us_per_msg"], vol, inv, busy))
PY
  done
done
echo "$prog: wrote $md"
