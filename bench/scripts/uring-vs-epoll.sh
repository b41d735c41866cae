#!/usr/bin/env bash
# uring-vs-epoll.sh: server CPU per echoed message of coio's echo example on io_uring
# against epoll, in interleaved pairs, so that the machine's drift (up to 40% between
# minutes here) falls on both sides of each ratio.
#
# Each pair runs the same binary twice, once per backend (A B, then B A in the next
# pair), 64 B messages (--size), 100 connections, one runner on CPU 0 (GOMAXPROCS=1),
# echoload on CPU 1, a 1 s warm-up and a --window measured window. The ratio is
# io_uring's µs/msg over epoll's in the same pair; the report gives every pair, the
# median ratio, and how many pairs io_uring won, with the one-sided sign-test p-value
# of that count (under "no difference" each pair is a coin toss).
#
# Usage: bench/scripts/uring-vs-epoll.sh [--pairs 10] [--depths "1 16"] [--window 3s]
#          [--conns 100] [--size 64] [--out DIR] [-- echo flags...]
#        e.g. -- -lend=false   (the example with a read buffer per connection)
set -euo pipefail

pairs=10
depths="1 16"
window=3
conns=100
size=64
out=""
flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs=$2; shift 2 ;;
    --depths) depths=$2; shift 2 ;;
    --window) window=${2%s}; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; flags=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "uring-vs-epoll.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

bench=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$bench/.." && pwd)
out=${out:-$bench/results}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
(cd "$repo" && go build -o "$tmp/echo" ./examples/echo)
(cd "$bench" && go build -o "$tmp/echoload" ./cmd/echoload)

stamp=$(date -u +%Y%m%d-%H%M%S)
md="$out/uring-vs-epoll-$stamp.md"
rows="$tmp/rows"
: >"$rows"
commit=$(cd "$repo" && git rev-parse --short HEAD)
{
  echo "# Server CPU per message, io_uring vs epoll, interleaved pairs"
  echo
  echo "$(date -u +%Y-%m-%d) · coio $commit · $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') · $(nproc) CPUs · Linux $(uname -r)"
  echo "examples/echo ${flags[*]:-(defaults)} -runners 1 on CPU 0 (GOMAXPROCS=1), echoload on CPU 1; $size B, $conns connections, 1 s warm-up + ${window} s window; pairs alternate A B / B A."
  echo
  echo "| depth | pair | io_uring µs/msg | epoll µs/msg | ratio | io_uring user/sys | epoll user/sys | io_uring p99 µs | epoll p99 µs |"
  echo "|---|---|---|---|---|---|---|---|---|"
} >"$md"

port=17600
# run BACKEND DEPTH: one measured run; prints "cpu user sys p99".
run() {
  COIO_BACKEND=$1 GOMAXPROCS=1 taskset -c 0 "$tmp/echo" -addr "127.0.0.1:$port" -runners 1 -metrics= "${flags[@]}" \
    >"$tmp/server.log" 2>&1 &
  local spid=$!
  for _ in $(seq 50); do
    grep -q "listening" "$tmp/server.log" 2>/dev/null && break
    sleep 0.1
  done
  taskset -c 1 "$tmp/echoload" -addr "127.0.0.1:$port" -conns "$conns" -size "$size" -depth "$2" \
    -warmup 1s -duration "${window}s" -server-pid "$spid" -json >"$tmp/load.json"
  kill -TERM "$spid"
  wait "$spid" || true
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); m=d["msgs"]
print("%.4f %.4f %.4f %.0f" % (d["server_cpu_us_per_msg"], d["server_user_s"]*1e6/m, d["server_sys_s"]*1e6/m, d["p99_us"]))' "$tmp/load.json"
}

for depth in $depths; do
  for p in $(seq 1 "$pairs"); do
    port=$((port + 2)) # each run below is a subshell: ports are counted here
    if [ $((p % 2)) -eq 1 ]; then
      read -r uc uu us up < <(run iouring "$depth")
      read -r ec eu es ep < <(run epoll "$depth")
    else
      read -r ec eu es ep < <(run epoll "$depth")
      read -r uc uu us up < <(run iouring "$depth")
    fi
    ratio=$(python3 -c "print('%.3f' % ($uc / $ec))")
    echo "$depth $ratio" >>"$rows"
    echo "| $depth | $p | $uc | $ec | $ratio | $uu/$us | $eu/$es | $up | $ep |" | tee -a "$md"
  done
done

python3 - "$rows" >>"$md" <<'PY'
import math, statistics, sys
by = {}
for line in open(sys.argv[1]):
    d, r = line.split()
    by.setdefault(d, []).append(float(r))
print()
print("| depth | pairs | median ratio | range | io_uring cheaper in | sign-test p |")
print("|---|---|---|---|---|---|")
for d, rs in by.items():
    n, wins = len(rs), sum(r < 1 for r in rs)
    p = sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n
    print(f"| {d} | {n} | {statistics.median(rs):.3f} | {min(rs):.3f}–{max(rs):.3f} | {wins} of {n} | {p:.4f} |")
PY
echo
cat "$md"
