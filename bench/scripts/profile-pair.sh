#!/usr/bin/env bash
# profile-pair.sh: where two echo servers' CPU per message goes, A against B, at one
# configuration of scenario (a): the profile that says why one of them costs more.
#
# Each run is one server on CPU 0 (GOMAXPROCS=1, one runner / thread) with echoload on
# CPU 1, as in pairs.sh; runs alternate A B / B A. In the middle of echoload's window,
# for --window, `perf record -e cpu-clock -F 10000 -p PID` samples the server (kernel
# and user) while `perf stat -p PID` counts its syscalls by kind and its context
# switches (sleeps). Each symbol's samples × 100 µs ÷ the messages echoed meanwhile
# (echoload's msgs/s × the window) is its µs per message; the report gives each
# symbol's median over the runs, A's and B's, and the difference, with the totals,
# the user share, the two socket copies (_copy_to_iter for reads, _copy_from_iter for
# sends) and syscalls and sleeps per message. Sampling and counting cost the server
# something: compare the two columns, not these figures with pairs.sh's.
#
# Servers as in pairs.sh: coio, coio-own, coio-epoll, coio-uring, coro, coro-own,
# asio, asio-uring, gnet, nbio. Flags after -- go to every examples/echo server.
#
# Writes bench/results/profile-A-vs-B-SIZE-CONNS-DEPTH-<UTC date>.md and prints it.
#
# Usage: bench/scripts/profile-pair.sh [--a coio] [--b gnet] [--config 4096:1000:16]
#          [--runs 3] [--window 2s] [--top 25] [--out DIR] [-- echo flags...]
set -euo pipefail

a=coio
b=gnet
config=4096:1000:16
runs=3
window=2
top=25
out=""
flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --a) a=$2; shift 2 ;;
    --b) b=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --window) window=${2%s}; shift 2 ;;
    --top) top=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; flags=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile-pair.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
IFS=: read -r size conns depth <<<"$config"
[ -n "$size" ] && [ -n "$conns" ] && [ -n "$depth" ] || { echo "profile-pair.sh: --config is SIZE:CONNS:DEPTH" >&2; exit 2; }

bench=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v perf >/dev/null; then
  echo "profile-pair.sh: perf is missing; installing linux-perf" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y linux-perf >/dev/null
fi
# shellcheck source=servers.sh
. "$bench/scripts/servers.sh"
build_servers "$a" "$b"

events=syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvmsg,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,sched:sched_switch
port=17900
# profile NAME RUN: one profiled run; leaves perf-NAME-RUN.data, stat-NAME-RUN.txt and
# load-NAME-RUN.json in tmp.
profile() {
  port=$((port + 1))
  start "$1" "$port"
  started
  local total=$((window + 2))
  taskset -c 1 "$tmp/echoload" -addr "127.0.0.1:$port" -conns "$conns" -size "$size" -depth "$depth" \
    -warmup 1s -duration "${total}s" -server-pid "$spid" -json >"$tmp/load-$1-$2.json" &
  local lp=$!
  sleep 2 # the warm-up and a second of the window
  perf stat -x, -e "$events" -p "$spid" -o "$tmp/stat-$1-$2.txt" -- sleep "$window" &
  local sp=$!
  perf record -q -e cpu-clock -F 10000 -p "$spid" -o "$tmp/perf-$1-$2.data" -- sleep "$window" >/dev/null 2>&1
  wait "$sp" || true
  wait "$lp"
  kill -TERM "$spid"
  wait "$spid" 2>/dev/null || true
  perf report -i "$tmp/perf-$1-$2.data" --no-children --sort sym --stdio -g none -F sample,sym \
    >"$tmp/syms-$1-$2.txt" 2>/dev/null
}

for r in $(seq 1 "$runs"); do
  if [ $((r % 2)) -eq 1 ]; then
    profile "$a" "$r"; profile "$b" "$r"
  else
    profile "$b" "$r"; profile "$a" "$r"
  fi
  echo "profile-pair.sh: run $r of $runs done" >&2
done

stamp=$(date -u +%Y%m%d-%H%M%S)
md="$out/profile-$a-vs-$b-$size-$conns-$depth-$stamp.md"
commit=$(cd "$repo" && git rev-parse --short HEAD)
machine="$(machine)"
python3 - "$tmp" "$a" "$b" "$runs" "$window" "$top" "$size" "$conns" "$depth" "$commit" "$machine" "${flags[*]:-(none)}" >"$md" <<'PY'
import json, re, statistics, sys, datetime
tmp, a, b = sys.argv[1], sys.argv[2], sys.argv[3]
runs, window, top = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
size, conns, depth, commit, machine, flags = sys.argv[7:13]

def run(name, r):
    d = json.load(open(f"{tmp}/load-{name}-{r}.json"))
    msgs = d["msgs_per_s"] * window  # messages echoed while perf sampled
    syms = {}
    for line in open(f"{tmp}/syms-{name}-{r}.txt"):
        m = re.match(r"\s+(\d+)\s+\[(.)\]\s+(.+?)\s*$", line)
        if m:
            key = ("[k] " if m.group(2) == "k" else "") + m.group(3)
            syms[key] = syms.get(key, 0) + int(m.group(1)) * 100 / msgs  # 10 kHz: 100 µs a sample
    stat = {}
    for line in open(f"{tmp}/stat-{name}-{r}.txt"):
        f = line.strip().split(",")
        if len(f) > 2 and f[0].replace(".", "").isdigit():
            stat[f[2].split(":")[-1].replace("sys_enter_", "")] = float(f[0]) / msgs
    m = d["msgs"]
    return {"cpu": d["server_cpu_us_per_msg"], "user": d["server_user_s"] * 1e6 / m,
            "sys": d["server_sys_s"] * 1e6 / m, "kmsgs": d["msgs_per_s"] / 1e3,
            "gen": d["gen_cpu_pct"], "syms": syms, "stat": stat}

res = {n: [run(n, r) for r in range(1, runs + 1)] for n in (a, b)}
med = lambda xs: statistics.median(xs) if xs else 0.0
def symmed(n, s): return med([x["syms"].get(s, 0.0) for x in res[n]])
def total(n, pred=lambda s: True): return med([sum(v for s, v in x["syms"].items() if pred(s)) for x in res[n]])

print(f"# Profile: {a} against {b}, {size} B × {conns} connections × depth {depth}")
print()
print(f"{datetime.date.today()} · coio {commit} · {machine}")
print()
print(f"Each server on CPU 0 (GOMAXPROCS=1, one runner / thread), echoload on CPU 1; {runs} runs each, "
      f"alternating; `perf record -e cpu-clock -F 10000` and `perf stat` (syscalls, `sched:sched_switch`) "
      f"for {window:g} s in the middle of each window. µs per message = samples × 100 µs ÷ messages echoed "
      f"meanwhile; medians over the runs. coio flags: {flags}. Made by `bench/scripts/profile-pair.sh`.")
print()
print("| run | server | µs/msg (echoload) | user / sys | k msgs/s | generator CPU % |")
print("|---:|---|---:|---|---:|---:|")
for r in range(runs):
    for n in (a, b):
        x = res[n][r]
        print(f"| {r+1} | {n} | {x['cpu']:.3f} | {x['user']:.3f} / {x['sys']:.3f} | {x['kmsgs']:.0f} | {x['gen']:.0f} |")
print()
print(f"| per message (medians) | {a} | {b} | difference |")
print("|---|---:|---:|---:|")
rows = [("sampled CPU, µs", total(a), total(b)),
        ("user, µs", total(a, lambda s: not s.startswith("[k]")), total(b, lambda s: not s.startswith("[k]"))),
        ("kernel, µs", total(a, lambda s: s.startswith("[k]")), total(b, lambda s: s.startswith("[k]"))),
        ("read copy `_copy_to_iter`, µs", symmed(a, "[k] _copy_to_iter"), symmed(b, "[k] _copy_to_iter")),
        ("send copy `_copy_from_iter`, µs", symmed(a, "[k] _copy_from_iter"), symmed(b, "[k] _copy_from_iter"))]
for k in ("read", "write", "sendto", "recvfrom", "sendmsg", "recvmsg", "io_uring_enter", "epoll_wait", "epoll_pwait", "sched_switch"):
    va, vb = med([x["stat"].get(k, 0.0) for x in res[a]]), med([x["stat"].get(k, 0.0) for x in res[b]])
    if va or vb:
        rows.append((f"`{k}` calls" if k != "sched_switch" else "context switches (sleeps)", va, vb))
for label, va, vb in rows:
    print(f"| {label} | {va:.4f} | {vb:.4f} | {va - vb:+.4f} |")
names = set()
for n in (a, b):
    for x in res[n]:
        names.update(x["syms"])
diff = sorted(((symmed(a, s), symmed(b, s), s) for s in names), key=lambda t: t[0] - t[1])
for title, part in ((f"Where {a} pays more", [t for t in reversed(diff) if t[0] > t[1]][:top]),
                    (f"Where {b} pays more", [t for t in diff if t[0] < t[1]][:top])):
    print()
    print(f"{title} (µs per message):")
    print()
    print(f"| symbol | {a} | {b} | difference |")
    print("|---|---:|---:|---:|")
    for va, vb, s in part:
        print(f"| `{s}` | {va:.3f} | {vb:.3f} | {va - vb:+.3f} |")
PY
cat "$md"
echo "profile-pair.sh: wrote $md" >&2
