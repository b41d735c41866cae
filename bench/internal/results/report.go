package results

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Baseline is the server the echo table's CPU-per-message ratio divides by: Asio, the
// design coio is modelled on and the cheapest peer measured so far.
const Baseline = "asio"

// NoisyPct is the share of a core, in %, that other processes may use during a run
// before the run is marked noisy.
const NoisyPct = 10

// IsCoio reports whether a server is one of coio's own (the callback API, the
// coroutine API, either on any backend, or net/http on coio's listener).
func IsCoio(server string) bool { return server == "coro" || strings.HasPrefix(server, "coio") }

// Charts names the chart files of a report, by scenario, in the order they are drawn.
var Charts = map[string][]string{
	Echo: {"echo-throughput.png", "echo-p99.png", "echo-cpu.png"},
	Skew: {"skew-throughput.png", "skew-p99.png"},
	Idle: {"idle-memory.png"},
	HTTP: {"http-throughput.png", "http-p99.png"},
}

// WriteMarkdown writes the report of a matrix run: a summary of coio against the best
// peer, then one table per scenario, then the failed runs.
func WriteMarkdown(w io.Writer, rows []Row) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "No runs.")
		return
	}
	first := rows[0]
	fmt.Fprintf(w, "# coio against its peers (%s preset)\n\n", first.Preset)
	fmt.Fprintf(w, "- Machine: %s\n", first.Machine)
	fmt.Fprintf(w, "- Date: %s; coio commit `%s`; %s\n", first.Date, first.Commit, first.GoVersion)
	fmt.Fprintf(w, "- Each run: %s warmup, %s measured window; %s\n", seconds(first.WarmupS), seconds(windowOf(rows)), repsOf(rows))
	var links []string
	for _, s := range Scenarios {
		if !has(rows, s) {
			continue
		}
		for _, c := range Charts[s] {
			links = append(links, fmt.Sprintf("[%s](%s)", strings.TrimSuffix(c, ".png"), c))
		}
	}
	fmt.Fprintf(w, "- Charts: %s\n", strings.Join(links, " · "))
	noisy, failed := 0, 0
	for _, r := range rows {
		switch {
		case r.Failed():
			failed++
		case r.OthersPct > NoisyPct || r.Quiet == "no":
			noisy++
		}
	}
	fmt.Fprintf(w, "- Runs: %d, of which %d failed and %d were noisy (other processes above %d%% of a core during the window, or a busy machine before it: see the note column)\n",
		len(rows), failed, noisy, NoisyPct)
	fmt.Fprintf(w, "- How it was run and what the columns mean: bench/README.md. The \"run\" column names machine, date and commit.\n\n")

	writeSummary(w, rows)
	if has(rows, Echo) {
		writeEcho(w, rows)
	}
	if has(rows, Skew) {
		writeSkew(w, rows)
	}
	if has(rows, Idle) {
		writeIdle(w, rows)
	}
	if has(rows, HTTP) {
		writeHTTP(w, rows)
	}
	writeFailed(w, rows)
}

func has(rows []Row, scenario string) bool {
	return slices.ContainsFunc(rows, func(r Row) bool { return r.Scenario == scenario })
}

func windowOf(rows []Row) float64 {
	for _, r := range rows {
		if r.WindowS > 0 && !r.Failed() && r.Scenario != Idle {
			return r.WindowS
		}
	}
	return 0
}

func repsOf(rows []Row) string {
	reps, pairs := 0, 0
	for _, r := range rows {
		if r.Pair > 0 {
			pairs = max(pairs, r.Pair)
			continue
		}
		reps = max(reps, r.Rep)
	}
	s := "one repetition per server"
	if reps > 1 {
		s = fmt.Sprintf("%d repetitions per server in A B … B A order; medians with (min–max)", reps)
	}
	if pairs > 0 {
		s += fmt.Sprintf("; then %d pairs of coio against each configuration's best peer", pairs)
	}
	return s
}

func seconds(s float64) string { return fmt.Sprintf("%g s", float64(int(s*10+0.5))/10) }

// best is the best successful peer (not coio) of a group by a median figure.
func best(g *Group, f func(Row) float64, lowerIsBetter bool) (string, float64) {
	name, val := "", 0.0
	for _, s := range g.Servers {
		if IsCoio(s) {
			continue
		}
		st := Of(g.Runs[s], f)
		if st.N == 0 || st.Median <= 0 {
			continue
		}
		if name == "" || (lowerIsBetter && st.Median < val) || (!lowerIsBetter && st.Median > val) {
			name, val = s, st.Median
		}
	}
	return name, val
}

// summaryLine is one row of the summary: coio's figure against the best peer's in
// the matrix, and the median ratio of the pairs run after it.
func summaryLine(w io.Writer, label string, g *Group, rows []Row) {
	figure, f, lowerIsBetter, format := Figure(g.Scenario)
	peer, pv := best(g, f, lowerIsBetter)
	coio := "–"
	ratio := "–"
	if runs, ok := g.Runs["coio"]; ok {
		st := Of(runs, f)
		if st.N > 0 {
			coio = format(st.Median)
			if pv > 0 {
				ratio = fmt.Sprintf("%.2f", st.Median/pv)
			}
		} else {
			coio = "failed"
		}
	}
	pairs := "–"
	if ps := Pairs(rows, g.Scenario, g.Key); len(ps) > 0 {
		st := StatOf(ps, f, lowerIsBetter)
		if st.N == 0 {
			pairs = fmt.Sprintf("failed (against %s)", st.B)
		} else {
			pairs = fmt.Sprintf("**%.2f** (%.2f–%.2f) against %s; %s better in %d of %d", st.Median, st.Min, st.Max, st.B, st.A, st.AWins, st.N)
		}
	}
	var others []string
	for _, s := range g.Servers {
		if !IsCoio(s) || s == "coio" {
			continue
		}
		st := Of(g.Runs[s], f)
		if st.N == 0 {
			others = append(others, s+" failed")
		} else {
			others = append(others, s+" "+format(st.Median))
		}
	}
	peerCell := "–"
	if peer != "" {
		peerCell = peer + " " + format(pv)
	}
	fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", label, g.Label(), figure, coio, peerCell, ratio, pairs, strings.Join(others, " · "))
}

func writeSummary(w io.Writer, rows []Row) {
	fmt.Fprintf(w, "## Summary: coio against the best peer\n\n")
	fmt.Fprintf(w, "coio is `examples/echo` (callback API; `examples/http -mode callback` for HTTP); the best peer is the one with the best median of that figure among gonet, gnet, nbio, netpoll, asio, asio-uring (HTTP: net/http, fasthttp, gnet). For the ratios, below 1 is better for coio except for HTTP req/s, where above 1 is. \"In the matrix\" divides the two servers' figures from the matrix's runs, which lie minutes apart; \"in pairs\" is the median ratio of the pairs run after the matrix (the section \"Pairs\" below), the figure to rank them by.\n\n")
	fmt.Fprintln(w, "| scenario | configuration | figure | coio | best peer | coio ÷ best peer in the matrix | coio ÷ best peer in pairs: median (range) | other coio variants |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---|---|")
	labels := map[string]string{Echo: "(a) echo, 1 core", Skew: "(b) skew, 2 cores", Idle: "(c) idle memory", HTTP: "(d) HTTP, 1 core"}
	for _, sc := range Scenarios {
		for _, g := range Groups(rows, sc) {
			summaryLine(w, labels[sc], g, rows)
		}
	}
	fmt.Fprintln(w)
	writePairs(w, rows)
}

func lightP99(r Row) float64 {
	if r.Light == nil {
		return 0
	}
	return r.Light.P99Us
}

// note gathers what makes a server's runs doubtful.
func note(runs []Row) string {
	var n []string
	add := func(s string) {
		if !slices.Contains(n, s) {
			n = append(n, s)
		}
	}
	for _, r := range runs {
		if r.Failed() {
			add("**failed**: " + oneLine(r.Error, 160))
			continue
		}
		if r.OthersPct > NoisyPct {
			add(fmt.Sprintf("noisy (others %.0f%%)", r.OthersPct))
		}
		if r.Quiet == "no" {
			add("busy before")
		}
		if r.GenCPUPct > 95 {
			add("gen ≥95%")
		}
		if r.ConnErrors > 0 {
			add(fmt.Sprintf("%d conn errors", r.ConnErrors))
		}
		if r.Stalled > 0 {
			// A server that starves a few of 1,000 connections hardly moves Jain.
			add(fmt.Sprintf("**%d conns stalled** (%d never served)", r.Stalled, r.Unserved))
		}
		if r.HTTPErrors > 0 {
			add(fmt.Sprintf("%d HTTP errors", r.HTTPErrors))
		}
		if r.ServerStatErr != "" {
			add("no server CPU")
		}
		if r.GenAllocs > 0 {
			add(fmt.Sprintf("%d gen allocs", r.GenAllocs))
		}
	}
	return strings.Join(n, "; ")
}

// oneLine flattens an error for a table cell and bounds its length.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func stamp(runs []Row) string { return runs[0].Stamp() }

func writeEcho(w io.Writer, rows []Row) {
	fmt.Fprintf(w, "## (a) Echo, one core\n\n")
	fmt.Fprintf(w, "Server on CPU 0 (`taskset -c 0`, `GOMAXPROCS=1`, one runner / event loop / thread), echoload on CPU 1. \"÷ %s\" is the server CPU per message over %s's in the same configuration (below 1: cheaper than %s). Latency at depth > 1 includes the wait behind the messages ahead on the connection.\n\n", Baseline, Baseline, Baseline)
	fmt.Fprintln(w, "| size | conns | depth | server | msgs/s | server µs/msg | ÷ "+Baseline+" | p50 µs | p99 µs | p99.9 µs | Jain | slowest | server CPU % | gen CPU % | note | run |")
	fmt.Fprintln(w, "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
	for _, g := range Groups(rows, Echo) {
		base := Of(g.Runs[Baseline], func(r Row) float64 { return r.ServerUsPerMsg })
		for _, s := range g.Servers {
			runs := g.Runs[s]
			us := Of(runs, func(r Row) float64 { return r.ServerUsPerMsg })
			ratio := "–"
			if us.N > 0 && base.N > 0 && base.Median > 0 {
				ratio = fmt.Sprintf("%.3f", us.Median/base.Median)
			}
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				Bytes(g.Key[0]), Count(float64(g.Key[1])), g.Key[2], bold(s),
				Of(runs, func(r Row) float64 { return r.MsgsPerS }).Format(Count),
				us.Format(Fixed(3)), ratio,
				Of(runs, func(r Row) float64 { return r.P50Us }).Format(Sig),
				Of(runs, func(r Row) float64 { return r.P99Us }).Format(Sig),
				Of(runs, func(r Row) float64 { return r.P999Us }).Format(Sig),
				Of(runs, func(r Row) float64 { return r.Jain }).Format(Fixed(3)),
				Of(runs, func(r Row) float64 { return r.Slowest }).Format(Fixed(2)),
				Of(runs, func(r Row) float64 { return r.ServerCPUPct }).Format(Fixed(0)),
				Of(runs, func(r Row) float64 { return r.GenCPUPct }).Format(Fixed(0)),
				note(runs), stamp(runs))
		}
	}
	fmt.Fprintln(w)
}

func writeSkew(w io.Writer, rows []Row) {
	fmt.Fprintf(w, "## (b) Skew, two cores\n\n")
	fmt.Fprintf(w, "10%% of the connections are heavy: they keep 20× the pipelining depth in flight. Server and echoload unpinned, `GOMAXPROCS=2`, two runners / event loops / threads / pollers each, so the generator competes for the same two cores. The light connections' throughput and latency are the figures; \"heavy ÷ light\" is how many times a light connection's throughput a heavy one got (20 = in proportion to what it offered).\n\n")
	fmt.Fprintln(w, "| size | conns | server | msgs/s | light msgs/s | light p50 µs | light p99 µs | light p99.9 µs | light Jain | heavy ÷ light | server CPU % | server µs/msg | gen CPU % | note | run |")
	fmt.Fprintln(w, "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
	light := func(f func(*Class) float64) func(Row) float64 {
		return func(r Row) float64 {
			if r.Light == nil {
				return 0
			}
			return f(r.Light)
		}
	}
	for _, g := range Groups(rows, Skew) {
		for _, s := range g.Servers {
			runs := g.Runs[s]
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				Bytes(g.Key[0]), Count(float64(g.Key[1])), bold(s),
				Of(runs, func(r Row) float64 { return r.MsgsPerS }).Format(Count),
				Of(runs, light(func(c *Class) float64 { return c.MsgsPerS })).Format(Count),
				Of(runs, light(func(c *Class) float64 { return c.P50Us })).Format(Sig),
				Of(runs, light(func(c *Class) float64 { return c.P99Us })).Format(Sig),
				Of(runs, light(func(c *Class) float64 { return c.P999Us })).Format(Sig),
				Of(runs, light(func(c *Class) float64 { return c.Jain })).Format(Fixed(3)),
				Of(runs, func(r Row) float64 { return r.HeavyPerLight }).Format(Fixed(1)),
				Of(runs, func(r Row) float64 { return r.ServerCPUPct }).Format(Fixed(0)),
				Of(runs, func(r Row) float64 { return r.ServerUsPerMsg }).Format(Fixed(3)),
				Of(runs, func(r Row) float64 { return r.GenCPUPct }).Format(Fixed(0)),
				note(runs), stamp(runs))
		}
	}
	fmt.Fprintln(w)
}

func writeIdle(w io.Writer, rows []Row) {
	fmt.Fprintf(w, "## (c) Memory per idle connection\n\n")
	fmt.Fprintf(w, "Server on CPU 0 as in (a); idleconns opens the connections in steps from 8 source addresses, echoes once on each, waits, and reads the server's VmRSS / RssAnon. \"RSS B/conn\" is the growth since before the first connection over the connections open; \"slope\" the growth since the previous step over the connections added. The kernel's memory is not in the RSS: \"kernel B/conn\" is half the growth of /proc/meminfo Slab plus /proc/net/sockstat TCP mem (both count the client's end of each loopback connection too; Slab is machine-wide, so it is an estimate). \"1M conns\" scales the last slope to 1,000,000 connections (server: RSS at the last step plus the slope for the rest).\n\n")
	fmt.Fprintln(w, "| server | conns | RSS B/conn | RssAnon B/conn | RSS slope B/conn | kernel B/conn | kernel slope B/conn | 1M conns: server | 1M conns: kernel | note | run |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
	for _, r := range rows {
		if r.Scenario != Idle {
			continue
		}
		if r.Failed() || len(r.Steps) == 0 {
			fmt.Fprintf(w, "| %s | %s | – | – | – | – | – | – | – | %s | %s |\n", bold(r.Server), Count(float64(r.Conns)), note([]Row{r}), r.Stamp())
			continue
		}
		for i, s := range r.Steps {
			p1, p2 := "", ""
			if i == len(r.Steps)-1 {
				p1, p2 = fmt.Sprintf("%.2f GiB", r.Proj1MServerMiB/1024), fmt.Sprintf("%.2f GiB", r.Proj1MKernelMiB/1024)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				bold(r.Server), Count(float64(s.Conns)), Count(s.RSSPerConn), Count(s.AnonPerConn), Count(s.RSSSlope),
				Count(s.KernelPerConn), Count(s.KernelSlope),
				p1, p2, note([]Row{r}), r.Stamp())
		}
	}
	fmt.Fprintln(w)
}

func writeHTTP(w io.Writer, rows []Row) {
	fmt.Fprintf(w, "## (d) HTTP/1.1 plaintext, one core\n\n")
	fmt.Fprintf(w, "`wrk -t1` on CPU 1 (GET /, keep-alive, no pipelining), the server on CPU 0 with `GOMAXPROCS=1` and one runner / event loop. Every server answers \"Hello, World!\" as text/plain; net/http and fasthttp add their Date (and Server) headers, the others do not.\n\n")
	fmt.Fprintln(w, "| conns | server | req/s | p50 µs | p99 µs | p99.9 µs | server µs/req | server CPU % | wrk CPU % | note | run |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
	for _, g := range Groups(rows, HTTP) {
		for _, s := range g.Servers {
			runs := g.Runs[s]
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				Count(float64(g.Key[1])), bold(s),
				Of(runs, func(r Row) float64 { return r.MsgsPerS }).Format(Count),
				Of(runs, func(r Row) float64 { return r.P50Us }).Format(Sig),
				Of(runs, func(r Row) float64 { return r.P99Us }).Format(Sig),
				Of(runs, func(r Row) float64 { return r.P999Us }).Format(Sig),
				Of(runs, func(r Row) float64 { return r.ServerUsPerMsg }).Format(Fixed(3)),
				Of(runs, func(r Row) float64 { return r.ServerCPUPct }).Format(Fixed(0)),
				Of(runs, func(r Row) float64 { return r.GenCPUPct }).Format(Fixed(0)),
				note(runs), stamp(runs))
		}
	}
	fmt.Fprintln(w)
}

func writeFailed(w io.Writer, rows []Row) {
	var failed []Row
	for _, r := range rows {
		if r.Failed() {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		return
	}
	fmt.Fprintf(w, "## Failed runs\n\n")
	fmt.Fprintln(w, "| run | scenario | server | configuration | error |")
	fmt.Fprintln(w, "|---:|---|---|---|---|")
	for _, r := range failed {
		cfg := fmt.Sprintf("%d conns", r.Conns)
		if r.Scenario == Echo || r.Scenario == Skew {
			cfg = fmt.Sprintf("%s, %d conns, depth %d", Bytes(r.Size), r.Conns, r.Depth)
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s |\n", r.Run, r.Scenario, r.Server, cfg, oneLine(r.Error, 400))
	}
	fmt.Fprintln(w)
}

// bold marks coio's own servers.
func bold(server string) string {
	if IsCoio(server) {
		return "**" + server + "**"
	}
	return server
}
