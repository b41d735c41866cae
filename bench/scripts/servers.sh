# servers.sh: sourced by pairs.sh and profile-pair.sh, which run two echo servers one
# against the other on CPU 0 the same way. The caller sets bench, repo, tmp (the build
# directory, which its EXIT trap removes), flags (an array of examples/echo flags) and
# prog (its name, for messages).
#
# Servers: coio (examples/echo as it comes), coio-own (-lend=false), coio-epoll,
# coio-uring, coio-base (another build of examples/echo, named by COIO_BASE: the code
# before a change, say), coro (examples/echo-coro, lent reads; coro-lend the same) and
# coro-own (-lend=false), asio,
# asio-uring (built with build-asio.sh, which installs g++ and libasio-dev /
# liburing-dev when missing), gnet and nbio (bench/servers, one event loop each).

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
