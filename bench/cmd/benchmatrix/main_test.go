package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coionet/coio/bench/internal/results"
)

func TestOrder(t *testing.T) {
	got := strings.Join(order([]string{"a", "b", "c"}, 3), " ")
	if got != "a b c c b a a b c" {
		t.Errorf("order = %s", got)
	}
}

func TestPresets(t *testing.T) {
	all := []string{results.Echo, results.Skew, results.Idle, results.HTTP}
	// The short preset is what `make bench` runs: with the pairs after it, it must
	// leave room for the installs and builds within 5 minutes, and still cover every
	// scenario and every server.
	short := plan(presets["short"], all, defaultEcho, defaultHTTP)
	pairs := pairPlan(presets["short"], all, defaultEcho, defaultHTTP)
	if len(pairs) == 0 {
		t.Error("the short preset runs no pairs")
	}
	short = append(short, pairs...)
	var total time.Duration
	seen := map[string]bool{}
	for _, j := range short {
		total += estimate(presets["short"], j)
		seen[j.scenario+"/"+j.server] = true
	}
	if total > 210*time.Second {
		t.Errorf("the short preset takes about %v", total)
	}
	for _, sc := range []string{results.Echo, results.Skew, results.Idle} {
		for _, s := range defaultEcho {
			if !seen[sc+"/"+s] {
				t.Errorf("the short preset lacks %s/%s", sc, s)
			}
		}
	}
	for _, s := range defaultHTTP {
		if !seen["http/"+s] {
			t.Errorf("the short preset lacks http/%s", s)
		}
	}

	// The full preset is issue #8's matrix.
	full := presets["full"]
	for _, size := range []int{64, 4096} {
		for _, conns := range []int{100, 1000} {
			for _, depth := range []int{1, 16} {
				if !slices.Contains(full.echo, [3]int{size, conns, depth}) {
					t.Errorf("the full preset lacks echo %d B, %d conns, depth %d", size, conns, depth)
				}
			}
		}
	}
	if !slices.Equal(full.idle, []int{10000, 19000}) || full.reps < 2 || full.window < 10*time.Second {
		t.Errorf("full preset: %+v", full)
	}
	jobs := plan(full, all, defaultEcho, defaultHTTP)
	reps := map[string]int{}
	for _, j := range jobs {
		if j.scenario == results.Echo && j.size == 64 && j.conns == 100 && j.depth == 1 {
			reps[j.server]++
		}
	}
	for _, s := range defaultEcho {
		if reps[s] != full.reps {
			t.Errorf("%s runs %d times in one echo configuration", s, reps[s])
		}
	}
}

func TestServersKnown(t *testing.T) {
	for _, s := range defaultEcho {
		if _, ok := echoServers[s]; !ok {
			t.Errorf("echo server %s has no spec", s)
		}
	}
	for _, s := range defaultHTTP {
		if _, ok := httpServers[s]; !ok {
			t.Errorf("HTTP server %s has no spec", s)
		}
	}
	if got := strings.Join(echoServers["asio"].args("127.0.0.1:1", 2), " "); got != "-addr 127.0.0.1:1 -threads 2" {
		t.Errorf("asio args: %s", got)
	}
	if got := strings.Join(httpServers["coio"].args("127.0.0.1:1", 1), " "); got != "-addr 127.0.0.1:1 -runners 1 -mode callback" {
		t.Errorf("coio http args: %s", got)
	}
}

func TestParseSteps(t *testing.T) {
	if s, err := parseSteps("10000, 19000"); err != nil || !slices.Equal(s, []int{10000, 19000}) {
		t.Errorf("parseSteps = %v, %v", s, err)
	}
	for _, bad := range []string{"19000,10000", "x", "0", "25000"} {
		if _, err := parseSteps(bad); err == nil {
			t.Errorf("parseSteps(%q) accepted", bad)
		}
	}
}

func TestListensIn(t *testing.T) {
	f := filepath.Join(t.TempDir(), "tcp")
	os.WriteFile(f, []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F41 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
`), 0o644)
	if !listensIn(f, ":1F40") {
		t.Error("port 8000 listens")
	}
	if listensIn(f, ":1F41") {
		t.Error("port 8001 is an established connection, not a listener")
	}
}

func TestDecodeAndTail(t *testing.T) {
	m, err := decode([]byte("Running 1s test\n{\"requests\":12,\"p99_us\":3.5}\n"))
	if err != nil || m["requests"] == nil {
		t.Errorf("decode = %v, %v", m, err)
	}
	if _, err := decode([]byte("no json here")); err == nil {
		t.Error("decode accepted no JSON")
	}
	tl := newTail(8)
	tl.Write([]byte("0123456789"))
	tl.Write([]byte("ab\ncd"))
	if got := tl.String(); got != "789ab cd" {
		t.Errorf("tail = %q", got)
	}
	if wrkSeconds(300*time.Millisecond) != 1 || wrkSeconds(10*time.Second) != 10 {
		t.Error("wrkSeconds")
	}
}

// TestDriver builds the Go net peer and the generators, then runs a tiny matrix:
// every scenario against gonet (HTTP against nethttp, when wrk is installed), a
// server that exits at once, and one that is not built. Each failure must be a row
// with an error, and the report and charts must be written.
func TestDriver(t *testing.T) {
	for _, tool := range []string{"go", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./servers/gonet", "./servers/nethttp", "./cmd/echoload", "./cmd/idleconns")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// A coio that cannot start, as with a backend that is not there yet.
	os.WriteFile(filepath.Join(bin, "coio-echo"), []byte("#!/bin/sh\necho 'proactor: backend iouring is not implemented yet' >&2\nexit 1\n"), 0o755)

	p := preset{name: "test", warmup: 100 * time.Millisecond, window: 300 * time.Millisecond, reps: 1,
		echo: [][3]int{{64, 10, 2}}, skew: []int{20}, idle: []int{20, 50}, idleSettle: 50 * time.Millisecond,
		http: []int{4}, quiet: 10 * time.Millisecond, quietTries: 1, pairs: 2}
	// The pairs after the matrix, of gonet against a second gonet (the best, and only,
	// peer that runs).
	echoServers["gonet-b"] = echoServers["gonet"]
	defer delete(echoServers, "gonet-b")
	scenarios := []string{results.Echo, results.Skew, results.Idle}
	_, err := exec.LookPath("wrk")
	haveWrk := err == nil
	if haveWrk {
		scenarios = append(scenarios, results.HTTP)
	}
	jobs := plan(p, scenarios, []string{"gonet", "coio-uring", "asio", "gonet-b"}, []string{"nethttp"})
	dir := t.TempDir()
	d := &driver{p: p, bin: bin, dir: dir, port: 17900, commit: "test", quietPct: 100, machine: machine(), started: time.Now(), pairA: "gonet"}
	if err := d.runAll(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	if err := report(dir); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := results.Read(f)
	f.Close()
	// Two echo pairs and two skew pairs.
	if err != nil || len(rows) != len(jobs)+8 {
		t.Fatalf("%d rows for %d jobs and 8 runs in pairs: %v", len(rows), len(jobs), err)
	}
	for _, sc := range []string{results.Echo, results.Skew} {
		key := [3]int{64, 10, 2}
		if sc == results.Skew {
			key = [3]int{64, 20, 1}
		}
		ps := results.Pairs(rows, sc, key)
		if len(ps) != 2 {
			t.Errorf("%s: %d pairs", sc, len(ps))
			continue
		}
		for _, pr := range ps {
			if pr.A.Server != "gonet" || pr.B.Server != "gonet-b" || pr.Ratio(func(r results.Row) float64 { return r.MsgsPerS }) <= 0 {
				t.Errorf("%s pair %d: %s %s, msgs/s %v and %v (%s / %s)", sc, pr.N, pr.A.Server, pr.B.Server, pr.A.MsgsPerS, pr.B.MsgsPerS, pr.A.Error, pr.B.Error)
			}
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil || !strings.Contains(string(md), "## Pairs") || !strings.Contains(string(md), "against gonet-b; gonet better in") {
		t.Errorf("the report lacks the pairs (%v)", err)
	}
	for _, r := range rows {
		if r.Commit != "test" || r.Machine.Cores == 0 || r.Date == "" {
			t.Errorf("row without its stamp: %+v", r)
		}
		switch r.Server {
		case "coio-uring":
			if !strings.Contains(r.Error, "not implemented yet") {
				t.Errorf("coio-uring: error %q", r.Error)
			}
		case "asio":
			if !strings.Contains(r.Error, "not built") {
				t.Errorf("asio: error %q", r.Error)
			}
		default:
			if r.Failed() {
				t.Errorf("%s %s failed: %s", r.Scenario, r.Server, r.Error)
				continue
			}
			switch r.Scenario {
			case results.Echo:
				if r.MsgsPerS <= 0 || r.P99Us <= 0 || r.Jain <= 0 {
					t.Errorf("echo row: %+v", r)
				}
			case results.Skew:
				if r.Light == nil || r.Light.Conns != 18 || r.Heavy == nil || r.Heavy.Depth != 20 {
					t.Errorf("skew row: %+v", r)
				}
			case results.Idle:
				if len(r.Steps) != 2 || r.Conns != 50 || r.RSSPerConn == 0 {
					t.Errorf("idle row: %+v", r)
				}
			case results.HTTP:
				if r.MsgsPerS <= 0 || r.Requests <= 0 || r.ServerUsPerMsg <= 0 {
					t.Errorf("http row: %+v", r)
				}
			}
		}
	}
	for _, name := range []string{"results.md", "echo-throughput.png", "skew-p99.png", "idle-memory.png"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}

// TestPairPlan: the dry run's pairs follow the server lists: none for a scenario
// whose list lacks coio or a peer.
func TestPairPlan(t *testing.T) {
	p := presets["short"]
	count := func(echo, http []string) (n map[string]int) {
		n = map[string]int{}
		for _, j := range pairPlan(p, []string{results.Echo, results.Skew, results.HTTP}, echo, http) {
			n[j.scenario]++
		}
		return n
	}
	if n := count(defaultEcho, defaultHTTP); n[results.Echo] != 2*2*p.pairs || n[results.Skew] != 2*p.pairs || n[results.HTTP] != 2*p.pairs {
		t.Errorf("default lists: %v pair runs", n)
	}
	if n := count([]string{"gonet", "asio"}, defaultHTTP); n[results.Echo] != 0 || n[results.HTTP] != 2*p.pairs {
		t.Errorf("echo without coio: %v pair runs", n)
	}
	if n := count([]string{"coio", "coio-epoll"}, []string{"fasthttp", "nethttp"}); len(n) != 0 {
		t.Errorf("coio without a peer, HTTP without coio: %v pair runs", n)
	}
}
