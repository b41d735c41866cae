#!/usr/bin/env bash
# cpu-per-msg.sh: server CPU per echoed message, coio's callback echo example against
# a goroutine-per-connection Go net server, measured with echoload. Other peers on
# request with --servers: gnet, nbio, netpoll (Go), asio and asio-uring (C++, built by
# build-asio.sh, which installs libasio-dev / liburing-dev with apt-get if missing).
#
# For each connection count, each server runs twice in A B B A order: the server on
# CPU 0 (taskset -c 0, GOMAXPROCS=1, coio with -runners 1), echoload on CPU 1. Before
# each run the machine's busy time is sampled from /proc/stat and noted. echoload
# reads the server's utime+stime from /proc/PID/stat itself at the edges of its
# measured window, so the server CPU is exactly that of the window.
#
# Writes bench/results/cpu-per-msg-<UTC date>.jsonl (one echoload JSON line per run)
# and .md (the table), and prints the table. See bench/README.md.
#
# Usage: bench/scripts/cpu-per-msg.sh [--warmup 2s] [--duration 10s] [--conns "100 1000"]
#          [--servers "coio gonet"] [--size 64] [--depth 1] [--reps 2] [--port 17100]
#          [--quiet-pct 10] [--out DIR]
#        servers: coio coio-nostats coro gonet gnet nbio netpoll asio asio-uring
set -euo pipefail

warmup=2s
duration=10s
conns_list="100 1000"
servers="coio gonet"
size=64
depth=1
reps=2 # per server; runs alternate A B B A ...
port=17100
quiet_pct=10 # busy % of one core above which the machine is not quiet
out=""

while [ $# -gt 0 ]; do
  case "$1" in
    --warmup) warmup=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --conns) conns_list=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --depth) depth=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --quiet-pct) quiet_pct=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "cpu-per-msg.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

bench=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$bench/.." && pwd)
out=${out:-$bench/results}
mkdir -p "$out"

if [ "$(nproc --all)" -lt 2 ]; then
  echo "cpu-per-msg.sh: needs 2 CPUs (server on 0, generator on 1)" >&2
  exit 1
fi
command -v taskset >/dev/null || { echo "cpu-per-msg.sh: taskset (util-linux) is missing" >&2; exit 1; }

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "building into $tmp ..." >&2
(cd "$repo" && go build -o "$tmp/coio-echo" ./examples/echo && go build -o "$tmp/coio-echo-coro" ./examples/echo-coro)
(cd "$bench" && go build -o "$tmp/" ./cmd/echoload ./cmd/benchreport ./servers/gonet)
# The peers (their configuration is in bench/README.md) are built only when asked for.
peers=()
for s in $servers; do
  case "$s" in gnet | nbio | netpoll) peers+=("./servers/$s") ;; esac
done
if [ ${#peers[@]} -gt 0 ]; then
  (cd "$bench" && go build -o "$tmp/" "${peers[@]}")
fi
case " $servers " in *" asio "*) "$bench/scripts/build-asio.sh" "$tmp" ;; esac
case " $servers " in *" asio-uring "*) "$bench/scripts/build-asio.sh" --uring "$tmp" ;; esac

# server_cmd NAME ADDR: the command line of a server.
server_cmd() {
  case "$1" in
    coio) echo "$tmp/coio-echo -addr $2 -runners 1 -metrics=" ;;
    coio-nostats) echo "$tmp/coio-echo -addr $2 -runners 1 -metrics= -stats=false" ;;
    coro) echo "$tmp/coio-echo-coro -addr $2 -runners 1" ;;
    gonet) echo "$tmp/gonet -addr $2" ;;
    gnet) echo "$tmp/gnet -addr $2" ;;       # multicore off under GOMAXPROCS=1
    nbio) echo "$tmp/nbio -addr $2" ;;
    netpoll) echo "$tmp/netpoll -addr $2" ;;
    asio) echo "$tmp/asio -addr $2" ;;       # C++, standalone Asio, one io_context
    asio-uring) echo "$tmp/asio-uring -addr $2" ;;
    *) echo "cpu-per-msg.sh: unknown server $1 (known: coio coio-nostats coro gonet gnet nbio netpoll asio asio-uring)" >&2; return 1 ;;
  esac
}
for s in $servers; do server_cmd "$s" x >/dev/null; done

clk_tck=$(getconf CLK_TCK)

# busy_pct: busy time of the whole machine over one second, in % of one core
# (user+nice+system+irq+softirq+steal from the aggregate line of /proc/stat).
busy_pct() {
  local u n s i w q sq st b1 b2
  read -r _ u n s i w q sq st _ </proc/stat
  b1=$((u + n + s + q + sq + st))
  sleep 1
  read -r _ u n s i w q sq st _ </proc/stat
  b2=$((u + n + s + q + sq + st))
  echo $(((b2 - b1) * 100 / clk_tck))
}

# wait_listen PORT PID: wait (at most 5 s) until something listens on 127.0.0.1:PORT.
wait_listen() {
  local hex
  hex=$(printf ':%04X' "$1")
  for _ in $(seq 1 50); do
    kill -0 "$2" 2>/dev/null || return 1
    if awk -v p="$hex" '$2 ~ p"$" && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# stop_server: SIGTERM, then SIGKILL after 5 s.
stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null | head -1)" ]; then
  commit="$commit+dirty"
fi
stamp=$(date -u +%Y%m%d-%H%M%S)
jsonl="$out/cpu-per-msg-$stamp.jsonl"
md="$out/cpu-per-msg-$stamp.md"

# The order of a configuration's runs: A B ... then ... B A, reps/2 times (and once
# more forwards when reps is odd).
read -r -a fwd <<<"$servers"
rev=()
for ((k = ${#fwd[@]} - 1; k >= 0; k--)); do rev+=("${fwd[k]}"); done
order=()
for ((r = 0; r < reps; r++)); do
  if ((r % 2 == 0)); then order+=("${fwd[@]}"); else order+=("${rev[@]}"); fi
done

run=0
for conns in $conns_list; do
  declare -A rep=()
  for name in "${order[@]}"; do
    run=$((run + 1))
    rep[$name]=$((${rep[$name]:-0} + 1))
    addr="127.0.0.1:$((port + run))"

    # Quietness: up to 3 one-second samples until the machine is quiet; noted either way.
    quiet=no
    for _ in 1 2 3; do
      busy=$(busy_pct)
      if [ "$busy" -le "$quiet_pct" ]; then quiet=yes; break; fi
      echo "  machine busy ($busy% of a core) before the run; waiting" >&2
    done

    # shellcheck disable=SC2046
    GOMAXPROCS=1 taskset -c 0 $(server_cmd "$name" "$addr") >"$tmp/server-$run.log" 2>&1 &
    server_pid=$!
    if ! wait_listen "$((port + run))" "$server_pid"; then
      echo "cpu-per-msg.sh: $name did not start listening on $addr:" >&2
      cat "$tmp/server-$run.log" >&2
      exit 1
    fi

    if ! line=$(taskset -c 1 "$tmp/echoload" -addr "$addr" -conns "$conns" -size "$size" -depth "$depth" \
      -warmup "$warmup" -duration "$duration" -server-pid "$server_pid" -json \
      -label "server=$name" -label "rep=${rep[$name]}" -label "run=$run" -label "commit=$commit" \
      -label "quiet=$quiet" -label "busy_before_pct=$busy" -label "script=cpu-per-msg"); then
      echo "cpu-per-msg.sh: echoload failed against $name (run $run); server log:" >&2
      cat "$tmp/server-$run.log" >&2
      stop_server
      exit 1
    fi
    stop_server
    echo "$line" >>"$jsonl"
    echo "$line" | "$tmp/benchreport" -progress >&2
  done
  unset rep
done

"$tmp/benchreport" <"$jsonl" >"$md"
cat "$md"
echo "wrote $jsonl and $md" >&2
