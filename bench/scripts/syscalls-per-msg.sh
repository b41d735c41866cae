#!/usr/bin/env bash
# syscalls-per-msg.sh: syscalls and server CPU per echoed message of coio's callback
# echo example on each backend (epoll, io_uring), 64 B messages, 100 connections, one
# runner, at pipelining depth 1 and 16.
#
# The server runs on CPU 0 (GOMAXPROCS=1, -runners 1), echoload on CPU 1. In the middle
# of echoload's measured window, `perf stat -e raw_syscalls:sys_enter -p PID` counts
# every syscall the server process makes (Go runtime included) for --window; syscalls
# per message = syscalls / (echoload's msgs/s × window). The server CPU per message and
# the latency percentiles are echoload's (its whole window).
#
# Usage: bench/scripts/syscalls-per-msg.sh [--window 4s] [--conns 100] [--depths "1 16"]
#          [--backends "epoll iouring iouring-locked"] [--reps 2] [--out DIR]
set -euo pipefail

window=4
conns=100
depths="1 16"
backends="epoll iouring iouring-locked"
reps=2
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --window) window=${2%s}; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --depths) depths=$2; shift 2 ;;
    --backends) backends=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "syscalls-per-msg.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

bench=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$bench/.." && pwd)
out=${out:-$bench/results}
mkdir -p "$out"
command -v perf >/dev/null || { echo "syscalls-per-msg.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
command -v curl >/dev/null || { echo "syscalls-per-msg.sh: curl is missing" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
(cd "$repo" && go build -o "$tmp/echo" ./examples/echo)
(cd "$bench" && go build -o "$tmp/echoload" ./cmd/echoload)


stamp=$(date -u +%Y%m%d-%H%M%S)
md="$out/syscalls-per-msg-$stamp.md"
commit=$(cd "$repo" && git rev-parse --short HEAD)
{
  echo "# Syscalls and server CPU per echoed message, by backend"
  echo
  echo "$(date -u +%Y-%m-%d) · coio $commit · $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') · $(nproc) CPUs · Linux $(uname -r)"
  echo "64 B, $conns connections, server pinned to CPU 0 with one runner, echoload on CPU 1; perf window ${window}s inside a $((window + 4))s echoload window."
  echo
  echo "| backend | depth | rep | msgs in window | syscalls in window | syscalls/msg | server µs/msg | msgs/s | p50 µs | p99 µs |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
} >"$md"

port=17400
for depth in $depths; do
  for rep in $(seq 1 "$reps"); do
    order=$backends
    [ $((rep % 2)) -eq 0 ] && order=$(echo "$backends" | tr ' ' '\n' | tac | tr '\n' ' ')
    for be in $order; do
      port=$((port + 2))
      COIO_BACKEND=$be GOMAXPROCS=1 taskset -c 0 "$tmp/echo" -addr "127.0.0.1:$port" -runners 1 \
        -metrics "127.0.0.1:$((port + 1))" >"$tmp/server.log" 2>&1 &
      spid=$!
      for _ in $(seq 50); do curl -s "http://127.0.0.1:$((port + 1))/metrics" >/dev/null 2>&1 && break; sleep 0.1; done
      taskset -c 1 "$tmp/echoload" -addr "127.0.0.1:$port" -conns "$conns" -size 64 -depth "$depth" \
        -warmup 1s -duration "$((window + 4))s" -server-pid "$spid" -json >"$tmp/load.json" &
      lpid=$!
      sleep 3 # connect, warm up, enter the measured window
      sc=$(perf stat -e raw_syscalls:sys_enter -x, -p "$spid" -- sleep "$window" 2>&1 | awk -F, '/raw_syscalls/ {print $1}')
      wait "$lpid"
      kill -TERM "$spid"; wait "$spid" || true
      read -r cpu rate p50 p99 < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.3f %.0f %.0f %.0f" % (d.get("server_cpu_us_per_msg", 0), d.get("msgs_per_s", 0), d.get("p50_us", 0), d.get("p99_us", 0)))' "$tmp/load.json")
      # Messages in the perf window: echoload's rate over its window times the perf
      # window (a read may carry several pipelined messages, so reads undercount).
      msgs=$(python3 -c "print(int($rate * $window))")
      spm=$(python3 -c "print('%.4f' % ($sc / max($msgs, 1)))")
      echo "| $be | $depth | $rep | $msgs | $sc | $spm | $cpu | $rate | $p50 | $p99 |" | tee -a "$md"
    done
  done
done
echo
cat "$md"
