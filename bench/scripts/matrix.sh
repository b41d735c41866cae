#!/usr/bin/env bash
# matrix.sh: runs issue #8's benchmark matrix, coio against its peers, and writes the
# results (JSON lines, a Markdown report, PNG charts) into a new directory
# bench/results/matrix-<UTC date>/. `make bench` runs the short preset (every
# scenario and server, a subset of configurations, then three pairs of coio against
# each configuration's best peer: about 3 minutes of runs, 4-5 with the installs and
# builds); `make bench-full` the full one (about 75 minutes).
#
# Scenarios (see bench/README.md): (a) echo, one core; (b) skew, two cores; (c) memory
# per idle connection; (d) HTTP/1.1 plaintext with wrk. Servers: coio, coro,
# coio-uring, asio, asio-uring, gnet, nbio, netpoll, gonet; for HTTP coio (callback),
# coio-nethttp, fasthttp, gnet, nethttp. A server that fails to build or to start is a
# row with an error; the run goes on.
#
# It installs what is missing with apt-get (wrk; g++, libasio-dev and liburing-dev
# through build-asio.sh), builds every program into a temporary directory (never
# into the repository; Go modules come through the module proxy), then runs
# bench/cmd/benchmatrix.
#
# Usage: bench/scripts/matrix.sh [--preset short|full] [--out DIR] [benchmatrix flags...]
#        e.g. --scenarios echo,http --servers coio,asio --window 5s --dry-run
set -euo pipefail

preset=short
out=""
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --short) preset=short; shift ;;
    --full) preset=full; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) pass+=("$1"); shift ;;
  esac
done

bench=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$bench/.." && pwd)
out=${out:-$bench/results}
mkdir -p "$out"
start=$(date +%s)

if [ "$(nproc --all)" -lt 2 ]; then
  echo "matrix.sh: needs 2 CPUs (server on 0, generator on 1)" >&2
  exit 1
fi

# install PKG...: apt-get install, as root or with sudo; failure is reported, not fatal.
install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "matrix.sh: installing $*" >&2
  { $sudo apt-get update -q >/dev/null &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; } ||
    echo "matrix.sh: could not install $* (the runs that need it will fail)" >&2
}
# What is missing is installed at once (one apt-get update): taskset, wrk, and what
# build-asio.sh would otherwise install itself.
missing=()
command -v taskset >/dev/null || missing+=(util-linux)
command -v wrk >/dev/null || missing+=(wrk)
command -v g++ >/dev/null || missing+=(g++)
[ -f /usr/include/asio.hpp ] || missing+=(libasio-dev)
[ -f /usr/include/liburing.h ] || missing+=(liburing-dev)
if [ ${#missing[@]} -gt 0 ]; then install "${missing[@]}"; fi
command -v taskset >/dev/null || { echo "matrix.sh: taskset (util-linux) is missing" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "matrix.sh: building into $tmp ..." >&2
# The C++ peers build in the background while Go builds; a failure leaves their
# binaries missing, which the matrix reports as failed rows.
("$bench/scripts/build-asio.sh" --uring "$tmp" >"$tmp/asio-build.log" 2>&1 ||
  echo "matrix.sh: the Asio build failed: $(tail -3 "$tmp/asio-build.log")" >&2) &
asio_pid=$!
(cd "$repo" && go build -o "$tmp/examples/" ./examples/echo ./examples/echo-coro ./examples/http)
mv "$tmp/examples/echo" "$tmp/coio-echo"
mv "$tmp/examples/echo-coro" "$tmp/coio-echo-coro"
mv "$tmp/examples/http" "$tmp/coio-http"
(cd "$bench" && go build -o "$tmp/" ./cmd/echoload ./cmd/idleconns ./cmd/benchmatrix \
  ./servers/gonet ./servers/gnet ./servers/nbio ./servers/netpoll \
  ./servers/nethttp ./servers/fasthttp ./servers/gnethttp)
wait "$asio_pid" || true
echo "matrix.sh: built in $(($(date +%s) - start)) s" >&2

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null | head -1)" ]; then
  commit="$commit+dirty"
fi

status=0
"$tmp/benchmatrix" -bin "$tmp" -out "$out" -preset "$preset" -commit "$commit" ${pass[@]+"${pass[@]}"} || status=$?
echo "matrix.sh: finished in $(($(date +%s) - start)) s" >&2
exit $status
