package results

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var machine = Machine{CPU: "Test CPU", Cores: 2, Kernel: "6.1.0-test", MemGiB: 24}

func row(scenario, server string, rep int, f func(*Row)) Row {
	r := Row{Scenario: scenario, Server: server, Rep: rep, Preset: "short", Date: "2026-11-25T13:00:00Z",
		Commit: "abc1234", Machine: machine, GoVersion: "go1.26", Conns: 100, Size: 64, Depth: 1,
		WarmupS: 0.5, WindowS: 2, Quiet: "yes"}
	if f != nil {
		f(&r)
	}
	return r
}

func sample() []Row {
	echo := func(us, mps float64) func(*Row) {
		return func(r *Row) { r.ServerUsPerMsg, r.MsgsPerS, r.P99Us, r.Jain, r.Slowest = us, mps, 100, 1, 1 }
	}
	return []Row{
		row(Echo, "coio", 1, echo(5, 100000)),
		row(Echo, "asio", 1, echo(4, 120000)),
		row(Echo, "asio", 2, echo(6, 110000)),
		row(Echo, "coio-uring", 1, func(r *Row) {
			r.Error = "server exited before listening: proactor: backend iouring is not implemented | yet"
		}),
		row(Echo, "gonet", 1, func(r *Row) { echo(7, 90000)(r); r.OthersPct = 30; r.Stalled, r.Unserved = 3, 1 }),
		row(Skew, "coio", 1, func(r *Row) {
			r.MsgsPerS = 200000
			r.Light = &Class{Conns: 90, MsgsPerS: 60000, P99Us: 900, Jain: 1}
			r.HeavyPerLight = 19.5
		}),
		row(Skew, "gnet", 1, func(r *Row) { r.Light = &Class{Conns: 90, MsgsPerS: 50000, P99Us: 1200, Jain: 0.9} }),
		row(Idle, "coio", 1, func(r *Row) {
			r.Conns = 19000
			r.Steps = []IdleStep{{Conns: 10000, RSSPerConn: 500, RSSSlope: 500}, {Conns: 19000, RSSPerConn: 450, RSSSlope: 400}}
			r.RSSPerConn, r.Proj1MServerMiB, r.Proj1MKernelMiB = 450, 390, 4400
		}),
		row(Idle, "asio", 1, func(r *Row) { r.Conns = 19000; r.Error = "idleconns: connection 17: refused" }),
		row(HTTP, "coio", 1, func(r *Row) { r.MsgsPerS, r.P99Us = 50000, 3000 }),
		row(HTTP, "fasthttp", 1, func(r *Row) { r.MsgsPerS, r.P99Us = 40000, 4000 }),
	}
}

// withPairs adds pairs after the matrix: two echo pairs (coio 0.9 and 1.1 of asio),
// and an HTTP pair whose second run failed.
func withPairs(rows []Row) []Row {
	pair := func(scenario, server string, n int, f func(*Row)) Row {
		return row(scenario, server, n, func(r *Row) {
			r.Pair, r.PairA, r.PairB = n, "coio", map[string]string{Echo: "asio", HTTP: "fasthttp"}[scenario]
			f(r)
		})
	}
	us := func(v float64) func(*Row) { return func(r *Row) { r.ServerUsPerMsg, r.MsgsPerS = v, 1000 } }
	return append(rows,
		pair(Echo, "coio", 1, us(4.5)), pair(Echo, "asio", 1, us(5)),
		pair(Echo, "coio", 2, us(5.5)), pair(Echo, "asio", 2, us(5)),
		pair(HTTP, "coio", 1, func(r *Row) { r.MsgsPerS = 50000 }),
		pair(HTTP, "fasthttp", 1, func(r *Row) { r.Error = "wrk completed no request" }),
	)
}

func TestPairs(t *testing.T) {
	rows := withPairs(sample())
	// The pairs are not in the matrix's groups.
	if g := Groups(rows, Echo)[0]; len(g.Runs["coio"]) != 1 || len(g.Runs["asio"]) != 2 {
		t.Errorf("pairs in the groups: %d coio runs, %d asio runs", len(g.Runs["coio"]), len(g.Runs["asio"]))
	}
	if p := BestPeer(Groups(rows, Echo)[0], "asio"); p != "gonet" {
		t.Errorf("BestPeer without asio = %q", p)
	}
	_, f, lower, _ := Figure(Echo)
	ps := Pairs(rows, Echo, [3]int{64, 100, 1})
	if len(ps) != 2 || ps[0].A.Server != "coio" || ps[1].B.Server != "asio" {
		t.Fatalf("pairs %+v", ps)
	}
	st := StatOf(ps, f, lower)
	if st.N != 2 || st.AWins != 1 || st.Median != 1 || st.Min != 0.9 || st.Max != 1.1 {
		t.Errorf("stat %+v", st)
	}
	_, f, lower, _ = Figure(HTTP)
	if st := StatOf(Pairs(rows, HTTP, [3]int{0, 100, 0}), f, lower); st.N != 0 || st.B != "fasthttp" {
		t.Errorf("a pair with a failed run has a ratio: %+v", st)
	}
	// Higher is better for req/s: the best peer has the most, and a ratio above 1
	// is a win.
	rows = append(rows, row(HTTP, "gnet", 1, func(r *Row) { r.MsgsPerS = 45000 }))
	if p := BestPeer(Groups(rows, HTTP)[0], ""); p != "gnet" {
		t.Errorf("HTTP BestPeer = %q; want gnet (45,000 req/s against fasthttp's 40,000)", p)
	}
	http := func(server string, n int, v float64) Row {
		return row(HTTP, server, n, func(r *Row) { r.Pair, r.PairA, r.PairB, r.MsgsPerS = n, "coio", "gnet", v })
	}
	hp := []Row{http("coio", 1, 60000), http("gnet", 1, 50000), http("gnet", 2, 50000), http("coio", 2, 40000), http("coio", 3, 55000), http("gnet", 3, 50000)}
	if st := StatOf(Pairs(hp, HTTP, [3]int{0, 100, 0}), f, lower); st.N != 3 || st.AWins != 2 || st.Median != 1.1 {
		t.Errorf("HTTP pairs: %+v; want a median of 1.1 and 2 wins in 3", st)
	}
}

func TestReadRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	for _, r := range sample() {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteString("\n\nnot json\n")
	}
	rows, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(sample()) || !IsMatrix(rows) {
		t.Fatalf("read %d rows", len(rows))
	}
	if rows[5].Light == nil || rows[5].Light.P99Us != 900 || rows[7].Steps[1].RSSSlope != 400 {
		t.Errorf("nested fields lost: %+v", rows[5])
	}
	if _, err := Read(strings.NewReader("{bad\n")); err == nil {
		t.Error("Read accepted a broken line")
	}
}

func TestGroupsAndStats(t *testing.T) {
	gs := Groups(sample(), Echo)
	if len(gs) != 1 {
		t.Fatalf("%d echo groups", len(gs))
	}
	g := gs[0]
	if strings.Join(g.Servers, " ") != "coio asio coio-uring gonet" {
		t.Errorf("servers %v", g.Servers)
	}
	st := Of(g.Runs["asio"], func(r Row) float64 { return r.ServerUsPerMsg })
	if st.Median != 5 || st.Min != 4 || st.Max != 6 || st.N != 2 {
		t.Errorf("asio stat %+v", st)
	}
	if got := st.Format(Fixed(1)); got != "5.0 (4.0–6.0)" {
		t.Errorf("Format = %q", got)
	}
	if Of(g.Runs["coio-uring"], func(r Row) float64 { return 1 }).Format(Fixed(1)) != "–" {
		t.Error("a failed server has a figure")
	}
	if name, v := best(g, func(r Row) float64 { return r.ServerUsPerMsg }, true); name != "asio" || v != 5 {
		t.Errorf("best = %s %v", name, v)
	}
	for _, c := range []struct {
		v    float64
		want string
	}{{1234567, "1,234,567"}, {999, "999"}, {-1234, "-1,234"}, {0, "0"}} {
		if got := Count(c.v); got != c.want {
			t.Errorf("Count(%v) = %q", c.v, got)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	var buf bytes.Buffer
	WriteMarkdown(&buf, withPairs(sample()))
	md := buf.String()
	for _, want := range []string{
		"# coio against its peers (short preset)",
		"medians with (min–max); then 2 pairs of coio against each configuration's best peer",
		"Test CPU, 2 cores, Linux 6.1.0-test, 24 GiB",
		"| (a) echo, 1 core | 64 B, 100 conns, depth 1 | server µs/msg | 5.000 | asio 5.000 | 1.00 | **1.00** (0.90–1.10) against asio; coio better in 1 of 2 | coio-uring failed |",
		"| (b) skew, 2 cores |", "| (c) idle memory | 19,000 idle conns | server RSS B/conn | 450 |",
		"| (d) HTTP, 1 core | 100 conns | req/s | 50,000 | fasthttp 40,000 | 1.25 | failed (against fasthttp) |",
		"| echo | 64 B, 100 conns, depth 1 | 2 | server µs/msg | 5.500 | asio | 5.000 | 1.100 |",
		"| http | 100 conns | 1 | req/s | 50,000 | fasthttp | failed | – |",
		"noisy (others 30%)", "**3 conns stalled** (1 never served)", "- Runs: 17, of which 3 failed and 1 were noisy", "**failed**: server exited before listening",
		"| **coio** | 19,000 | 450 |", "0.38 GiB",
		"## Failed runs", "not implemented \\| yet",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Every table row of the scenarios names machine, date and commit.
	stamp := "Test CPU ×2, 6.1.0 · 2026-11-25 · abc1234"
	section := ""
	for line := range strings.Lines(md) {
		if strings.HasPrefix(line, "## (") {
			section = line
		}
		if strings.HasPrefix(line, "## Failed") || strings.HasPrefix(line, "## Summary") {
			section = ""
		}
		if section != "" && strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| size") &&
			!strings.HasPrefix(line, "| server |") && !strings.HasPrefix(line, "| conns |") && !strings.Contains(line, stamp) {
			t.Errorf("row without its stamp: %s", line)
		}
	}
}

func TestWriteCharts(t *testing.T) {
	dir := t.TempDir()
	paths, err := WriteCharts(dir, sample())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range Scenarios {
		want = append(want, Charts[s]...)
	}
	if len(paths) != len(want) {
		t.Fatalf("wrote %v, want %v", paths, want)
	}
	for i, p := range paths {
		if filepath.Base(p) != want[i] {
			t.Errorf("chart %d is %s, want %s", i, p, want[i])
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() < 500 {
			t.Errorf("%s: %v", p, err)
		}
	}
	if got := ascii("µs × – …"); got != "us x - ..." {
		t.Errorf("ascii = %q", got)
	}
}
