#!/usr/bin/env bash
# build-asio.sh: builds the standalone-Asio echo peer (bench/servers/asio/echo.cpp)
# into DIR/asio, installing Debian's libasio-dev (and g++) with apt-get when missing.
# With --uring it also builds DIR/asio-uring, Asio's io_uring backend
# (-DASIO_HAS_IO_URING -DASIO_DISABLE_EPOLL, -luring; installs liburing-dev).
#
# Usage: bench/scripts/build-asio.sh [--uring] DIR
set -euo pipefail

uring=no
if [ "${1:-}" = "--uring" ]; then uring=yes; shift; fi
[ $# -eq 1 ] || { echo "usage: build-asio.sh [--uring] DIR" >&2; exit 2; }
dir=$1
mkdir -p "$dir"
src=$(cd "$(dirname "$0")/../servers/asio" && pwd)/echo.cpp

# install PKG...: apt-get install, as root or with sudo.
install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "build-asio.sh: installing $*" >&2
  $sudo apt-get update -q >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

command -v g++ >/dev/null || install g++
[ -f /usr/include/asio.hpp ] || install libasio-dev

cxx=(g++ -O2 -std=c++17 -pthread)
"${cxx[@]}" -o "$dir/asio" "$src"

if [ "$uring" = yes ]; then
  [ -f /usr/include/liburing.h ] || install liburing-dev
  "${cxx[@]}" -DASIO_HAS_IO_URING -DASIO_DISABLE_EPOLL -o "$dir/asio-uring" "$src" -luring
fi
