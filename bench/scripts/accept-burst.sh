#!/usr/bin/env bash
# accept-burst.sh: how fast each echo server takes on a burst of new connections
# while it is busy. Per run: the server on CPU 0 (GOMAXPROCS=1, one runner / event
# loop / thread), echoload on CPU 1 with --load (SIZE:CONNS:DEPTH, 4 KiB × 1,000 × 16
# by default) for 9 s; 4 s in, acceptburst (CPU 1 too) dials --conns connections at
# once, each writes a byte and waits for its echo. The report gives, per run, the
# time from the burst's start to each connection's echo (p50, p99, max), how many got
# it within a second, and the kernel's listen-queue overflows meanwhile (nstat), then
# the medians per server. Runs alternate between the servers.
#
# Servers: those of servers.sh (coio, coio-epoll, coro, gnet, nbio, asio, ...;
# coio-base is the build of examples/echo that COIO_BASE names, the code before a
# change, say).
#
# Usage: bench/scripts/accept-burst.sh [--servers "coio gnet asio"] [--runs 4]
#          [--conns 1000] [--load 4096:1000:16] [--out DIR]
#   e.g. COIO_BASE=/tmp/echo-before bench/scripts/accept-burst.sh --servers "coio coio-base gnet"
set -euo pipefail

servers="coio gnet asio"
runs=4
conns=1000
load=4096:1000:16
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --servers) servers=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --load) load=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "accept-burst.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
IFS=: read -r size lconns depth <<<"$load"

bench=$(cd "$(dirname "$0")/.." && pwd)
flags=()
# shellcheck source=servers.sh
. "$bench/scripts/servers.sh"
for s in $servers; do
  build_servers "$s" ""
done
(cd "$bench" && go build -o "$tmp/acceptburst" ./cmd/acceptburst)
command -v nstat >/dev/null || { echo "$prog: nstat (iproute2) is needed" >&2; exit 1; }

port=17900
# run NAME: one run; prints "p50 p99 max within_1s failed overflows".
run() {
  start "$1" "$port"
  started
  taskset -c 1 "$tmp/echoload" -addr "127.0.0.1:$port" -conns "$lconns" -size "$size" -depth "$depth" \
    -warmup 1s -duration 8s -server-pid "$spid" -json >"$tmp/load.json" &
  local lp=$!
  sleep 4
  nstat -n
  taskset -c 1 "$tmp/acceptburst" -addr "127.0.0.1:$port" -conns "$conns" -json >"$tmp/burst.json" || true
  local ovf
  ovf=$(nstat -z TcpExtListenOverflows | awk '/ListenOverflows/ {print $2}')
  wait "$lp" || true
  kill -TERM "$spid"
  wait "$spid" 2>/dev/null || true
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
print("%.1f %.1f %.1f %d %d %s" % (d["p50_ms"], d["p99_ms"], d["max_ms"], d["served_within_1s"], d["failed"], sys.argv[2]))' "$tmp/burst.json" "${ovf:-0}"
}

stamp=$(date -u +%Y%m%d-%H%M%S)
md="$out/accept-burst-$stamp.md"
rows="$tmp/rows"
: >"$rows"
commit=$(cd "$repo" && git rev-parse --short HEAD)
{
  echo "# A burst of $conns new connections into a busy server"
  echo
  echo "$(date -u +%Y-%m-%d) · coio $commit · $(machine)"
  echo "Server on CPU 0 (GOMAXPROCS=1, one runner / thread); echoload on CPU 1 at $size B × $lconns connections × depth $depth; 4 s in, acceptburst (CPU 1) dials $conns connections at once, each writes a byte and waits for its echo. Times are from the burst's start to each echo.${COIO_BASE:+ coio-base is $COIO_BASE.}${COIO_BACKEND:+ COIO_BACKEND=$COIO_BACKEND.} Made by \`bench/scripts/accept-burst.sh\`."
  echo
  echo "| run | server | p50 ms | p99 ms | max ms | echoed within 1 s | failed | listen overflows |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|"
} >"$md"
for i in $(seq "$runs"); do
  for s in $servers; do
    run "$s" >"$tmp/out" # in this shell, not a subshell: the EXIT trap must see its jobs
    read -r p50 p99 mx w f o <"$tmp/out"
    echo "| $i | $s | $p50 | $p99 | $mx | $w of $conns | $f | $o |" >>"$md"
    echo "$s $p50 $p99 $mx $w" >>"$rows"
    echo "$prog: run $i $s: p50 $p50 ms p99 $p99 ms max $mx ms, $w of $conns within 1 s" >&2
  done
done
{
  echo
  echo "| server | runs | median p50 ms | median p99 ms | worst max ms | runs with every echo within 1 s |"
  echo "|---|---:|---:|---:|---:|---:|"
  python3 - "$rows" "$conns" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    s, p50, p99, mx, w = line.split()
    rows.setdefault(s, []).append((float(p50), float(p99), float(mx), int(w)))
for s, rs in rows.items():
    full = sum(1 for r in rs if r[3] == int(sys.argv[2]))
    print(f"| {s} | {len(rs)} | {statistics.median(r[0] for r in rs):.1f} | {statistics.median(r[1] for r in rs):.1f} | {max(r[2] for r in rs):.1f} | {full} of {len(rs)} |")
EOF
} >>"$md"
cat "$md"
echo "$prog: wrote $md" >&2
