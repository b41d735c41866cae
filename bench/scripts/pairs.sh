#!/usr/bin/env bash
# pairs.sh: server CPU per echoed message of two echo servers, A against B, in
# interleaved pairs for each configuration of scenario (a): the figure issue #8 ranks
# servers by, measured so that this machine's drift (up to 40% between minutes) falls
# on both sides of each ratio. The matrix (matrix.sh) runs every server one after
# another, and its medians of one or two repetitions can land in different phases.
#
# Each pair runs A then B (B then A in the next pair), server on CPU 0 (GOMAXPROCS=1,
# one runner / thread), echoload on CPU 1, a 1 s warm-up and a --window measured
# window. For each configuration the report gives every pair's ratio A/B, the median,
# and in how many pairs A was cheaper, with the one-sided sign-test p-value.
#
# --together runs A and B at the same time instead, both servers on CPU 0 and one
# echoload for each on CPU 1, over the same window: each pair then meets the same
# phase of the machine. On a shared host whose speed moves from one run to the next
# (seen: the same server 1.8 to 3.9 µs per message in consecutive 3 s windows), that
# ratio holds to a few percent (A against A: 0.974-1.011) where interleaved ones
# scatter by tens of percent. It measures another regime, though: each server has half
# a core, so its queues are longer and its batches larger than alone, which favours a
# server that batches (io_uring's enters); say which mode a figure comes from.
#
# Servers: coio (examples/echo as it comes), coio-own (-lend=false), coio-epoll,
# coio-uring, coio-base (COIO_BASE), coro (examples/echo-coro, lent reads) and coro-own
# (-lend=false), asio,
# asio-uring (built with build-asio.sh, which installs g++ and libasio-dev /
# liburing-dev when missing), gnet and nbio (bench/servers, one event loop each).
# Flags after -- go to every examples/echo server.
#
# Usage: bench/scripts/pairs.sh [--a coio] [--b asio] [--pairs 6] [--window 3s] [--together]
#          [--configs "64:100:1 64:100:16 64:1000:1 64:1000:16 4096:100:1 4096:100:16 4096:1000:1 4096:1000:16"]
#          [--out DIR] [-- echo flags...]
#        a configuration is SIZE:CONNS:DEPTH
#   e.g. io_uring against epoll, the example as it comes and with a buffer per connection:
#        bench/scripts/pairs.sh --a coio-uring --b coio-epoll --pairs 8 --configs "64:100:1 64:100:16"
#        bench/scripts/pairs.sh --a coio-uring --b coio-epoll --configs "64:100:16" -- -lend=false
set -euo pipefail

a=coio
b=asio
pairs=6
window=3
configs="64:100:1 64:100:16 64:1000:1 64:1000:16 4096:100:1 4096:100:16 4096:1000:1 4096:1000:16"
out=""
together=0
flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --a) a=$2; shift 2 ;;
    --b) b=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --window) window=${2%s}; shift 2 ;;
    --configs) configs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --together) together=1; shift ;;
    --) shift; flags=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "pairs.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

bench=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=servers.sh
. "$bench/scripts/servers.sh"
build_servers "$a" "$b"

port=17800
# run NAME SIZE CONNS DEPTH: one measured run; prints "cpu user/sys p99" (µs per message, µs).
run() {
  start "$1" "$port"
  started
  taskset -c 1 "$tmp/echoload" -addr "127.0.0.1:$port" -conns "$3" -size "$2" -depth "$4" \
    -warmup 1s -duration "${window}s" -server-pid "$spid" -json >"$tmp/load.json"
  kill -TERM "$spid"
  wait "$spid" 2>/dev/null || true
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); m=d["msgs"]
print("%.4f %.4f/%.4f %.0f" % (d["server_cpu_us_per_msg"], d["server_user_s"]*1e6/m, d["server_sys_s"]*1e6/m, d["p99_us"]))' "$tmp/load.json"
}

# both NAME_A NAME_B SIZE CONNS DEPTH: A and B at once (--together); prints A's and B's
# "cpu user/sys p99" on two lines.
both() {
  local pa=$port pb=$((port + 1)) sa sb la lb
  start "$1" "$pa" && sa=$spid && mv "$tmp/server.log" "$tmp/server-a.log"
  start "$2" "$pb" && sb=$spid
  started "$tmp/server-a.log" "$tmp/server.log"
  taskset -c 1 "$tmp/echoload" -addr "127.0.0.1:$pa" -conns "$4" -size "$3" -depth "$5" \
    -warmup 1s -duration "${window}s" -server-pid "$sa" -json >"$tmp/load-a.json" &
  la=$!
  taskset -c 1 "$tmp/echoload" -addr "127.0.0.1:$pb" -conns "$4" -size "$3" -depth "$5" \
    -warmup 1s -duration "${window}s" -server-pid "$sb" -json >"$tmp/load-b.json" &
  lb=$!
  wait "$la" "$lb"
  kill -TERM "$sa" "$sb"
  wait "$sa" "$sb" 2>/dev/null || true
  for j in a b; do
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); m=d["msgs"]
print("%.4f %.4f/%.4f %.0f" % (d["server_cpu_us_per_msg"], d["server_user_s"]*1e6/m, d["server_sys_s"]*1e6/m, d["p99_us"]))' "$tmp/load-$j.json"
  done
}

stamp=$(date -u +%Y%m%d-%H%M%S)
mode=""
[ "$together" = 1 ] && mode="-together"
md="$out/pairs-$a-vs-$b$mode-$stamp.md"
rows="$tmp/rows"
: >"$rows"
commit=$(cd "$repo" && git rev-parse --short HEAD)
{
  echo "# Server CPU per message, $a against $b, interleaved pairs"
  echo
  echo "$(date -u +%Y-%m-%d) · coio $commit · $(machine)"
  if [ "$together" = 1 ]; then
    echo "Both servers at once on CPU 0 (GOMAXPROCS=1 each, one runner / thread), one echoload for each on CPU 1, the same 1 s warm-up + ${window} s window (--together: each server has half a core); coio flags: ${flags[*]:-(none)}."
  else
    echo "Server on CPU 0 (GOMAXPROCS=1, one runner / thread), echoload on CPU 1; 1 s warm-up + ${window} s window; pairs alternate A B / B A; coio flags: ${flags[*]:-(none)}."
  fi
  echo
  echo "| size | conns | depth | pair | $a µs/msg | $b µs/msg | ratio | $a user/sys | $b user/sys | $a p99 µs | $b p99 µs |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|"
} >"$md"

for cfg in $configs; do
  IFS=: read -r size conns depth <<<"$cfg"
  for p in $(seq 1 "$pairs"); do
    port=$((port + 2)) # fresh ports for each pair
    if [ "$together" = 1 ]; then
      both "$a" "$b" "$size" "$conns" "$depth" >"$tmp/out"
      { read -r ac aus ap; read -r bc bus bp; } <"$tmp/out"
    elif [ $((p % 2)) -eq 1 ]; then
      run "$a" "$size" "$conns" "$depth" >"$tmp/out"
      read -r ac aus ap <"$tmp/out"
      run "$b" "$size" "$conns" "$depth" >"$tmp/out"
      read -r bc bus bp <"$tmp/out"
    else
      run "$b" "$size" "$conns" "$depth" >"$tmp/out"
      read -r bc bus bp <"$tmp/out"
      run "$a" "$size" "$conns" "$depth" >"$tmp/out"
      read -r ac aus ap <"$tmp/out"
    fi
    ratio=$(python3 -c "print('%.3f' % ($ac / $bc))")
    echo "$cfg $ratio" >>"$rows"
    echo "| $size | $conns | $depth | $p | $ac | $bc | $ratio | $aus | $bus | $ap | $bp |" | tee -a "$md"
  done
done

python3 - "$rows" "$a" "$b" >>"$md" <<'PY'
import math, statistics, sys
by = {}
for line in open(sys.argv[1]):
    c, r = line.split()
    by.setdefault(c, []).append(float(r))
a, b = sys.argv[2], sys.argv[3]
print()
print(f"| size | conns | depth | pairs | median {a}/{b} | range | {a} cheaper in | sign-test p |")
print("|---:|---:|---:|---:|---:|---|---|---:|")
for c, rs in by.items():
    size, conns, depth = c.split(":")
    n, wins = len(rs), sum(r < 1 for r in rs)
    p = sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n
    print(f"| {size} | {conns} | {depth} | {n} | {statistics.median(rs):.3f} | {min(rs):.3f}–{max(rs):.3f} | {wins} of {n} | {p:.4f} |")
PY
echo
cat "$md"
