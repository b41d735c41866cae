# servers.sh: sourced by pairs.sh, profile-pair.sh, accept-burst.sh and
# skew-profile.sh, which build and start the echo servers the same way. The caller
# sets bench (the bench module's directory), flags (an array of examples/echo flags)
# and, from its --out, out; sourcing sets up the rest every one of them needs: repo,
# out (bench/results unless set) made, tmp (the build directory), the traps that stop
# the script's servers and generators and remove tmp, and prog (its name, for
# messages).
#
# Servers: coio (examples/echo as it comes), coio-own (-lend=false), coio-epoll,
# coio-uring, coio-base (another build of examples/echo, named by COIO_BASE: the code
# before a change, say), coro (examples/echo-coro, lent reads; coro-lend the same) and
# coro-own (-lend=false), asio,
# asio-uring (built with build-asio.sh, which installs g++ and libasio-dev /
# liburing-dev when missing), gnet and nbio (bench/servers, one event loop each).

repo=$(cd "$bench/.." && pwd)
out=${out:-$bench/results}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
# A signal must end the script through exit, so that the EXIT trap stops the server:
# killed by a signal it has no trap for, bash may skip it, and an orphaned server kept
# its port, so that a later run's server could not bind it and that run failed.
trap 'exit 130' INT TERM
prog=$(basename "$0")

# machine: the CPU, its count and the kernel, for a report's heading.
machine() {
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') · $(nproc) CPUs · Linux $(uname -r)"
}

# build_servers A B: builds coio's examples, echoload, and the peers A and B need.
build_servers() {
  (cd "$repo" && go build -o "$tmp/echo" ./examples/echo && go build -o "$tmp/echo-coro" ./examples/echo-coro)
  (cd "$bench" && go build -o "$tmp/echoload" ./cmd/echoload)
  case " $1 $2 " in
    *" coio-base "*)
      if [ ! -x "${COIO_BASE:-}" ]; then
        echo "$prog: coio-base needs COIO_BASE=PATH, a build of examples/echo" >&2
        exit 2
      fi
      cp "$COIO_BASE" "$tmp/echo-base" ;;
  esac
  case "$1 $2" in
    *asio-uring*) "$bench/scripts/build-asio.sh" --uring "$tmp" ;;
    *asio*) "$bench/scripts/build-asio.sh" "$tmp" ;;
  esac
  local peer
  for peer in gnet nbio; do
    case " $1 $2 " in
      *" $peer "*) (cd "$bench" && go build -o "$tmp/$peer" "./servers/$peer") ;;
    esac
  done
}

# start NAME PORT: starts server NAME on 127.0.0.1:PORT, on CPU 0 (GOMAXPROCS=1, one
# runner / event loop / thread), its output in tmp/server.log; its pid in spid.
start() {
  local cmd=() env=()
  case "$1" in
    coio) cmd=("$tmp/echo" -runners 1 -metrics= "${flags[@]}") ;;
    coio-own) cmd=("$tmp/echo" -runners 1 -metrics= -lend=false "${flags[@]}") ;;
    coio-epoll) cmd=("$tmp/echo" -runners 1 -metrics= "${flags[@]}"); env=(COIO_BACKEND=epoll) ;;
    coio-uring) cmd=("$tmp/echo" -runners 1 -metrics= "${flags[@]}"); env=(COIO_BACKEND=iouring) ;;
    coio-base) cmd=("$tmp/echo-base" -runners 1 -metrics= "${flags[@]}") ;;
    coro | coro-lend) cmd=("$tmp/echo-coro" -runners 1 -lend) ;;
    coro-own) cmd=("$tmp/echo-coro" -runners 1 -lend=false) ;;
    asio) cmd=("$tmp/asio" -threads 1) ;;
    asio-uring) cmd=("$tmp/asio-uring" -threads 1) ;;
    gnet) cmd=("$tmp/gnet") ;; # one event loop: GOMAXPROCS=1
    nbio) cmd=("$tmp/nbio" -npoller 1) ;;
    *) echo "$prog: unknown server $1" >&2; exit 2 ;;
  esac
  # The callers wait for the log to fill: the last run's must not count.
  rm -f "$tmp/server.log"
  env "${env[@]}" GOMAXPROCS=1 taskset -c 0 "${cmd[@]}" -addr "127.0.0.1:$2" >"$tmp/server.log" 2>&1 &
  spid=$!
}

# started [LOG...]: waits until the server logs (default tmp/server.log) say something,
# up to 5 s each, then 0.2 s more for the listener to settle.
started() {
  local log
  for log in "${@:-$tmp/server.log}"; do
    for _ in $(seq 50); do
      [ -s "$log" ] && break
      sleep 0.1
    done
  done
  sleep 0.2
}
