package results

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/coionet/coio/bench/internal/chart"
)

// WriteCharts draws the PNG charts of the scenarios present in rows into dir (the
// file names are those of Charts) and returns their paths.
func WriteCharts(dir string, rows []Row) ([]string, error) {
	var paths []string
	for _, c := range BuildCharts(rows) {
		path := filepath.Join(dir, c.file)
		f, err := os.Create(path)
		if err != nil {
			return paths, err
		}
		err = c.WritePNG(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return paths, fmt.Errorf("%s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// namedChart is a chart and the file it goes to.
type namedChart struct {
	file string
	chart.Chart
}

// BuildCharts makes the charts of the scenarios present in rows.
func BuildCharts(rows []Row) []namedChart {
	if len(rows) == 0 {
		return nil
	}
	first := rows[0]
	head := []string{
		"machine: " + first.Machine.String(),
		fmt.Sprintf("date: %s   coio commit: %s   %s   preset: %s", first.Date, first.Commit, first.GoVersion, first.Preset),
	}
	var out []namedChart
	add := func(file, title, layout string, panels []chart.Panel) {
		out = append(out, namedChart{file, chart.Chart{Title: title, Lines: append(slices.Clone(head), layout), Panels: panels}})
	}
	us := func(v float64) string { return Sig(v) + " us" }

	const oneCore = "server on CPU 0 (GOMAXPROCS=1, one runner/loop/thread), generator on CPU 1; medians of the repetitions"
	if gs := Groups(rows, Echo); len(gs) > 0 {
		add("echo-throughput.png", "(a) Echo throughput, msgs/s (higher is better)", oneCore,
			panels(gs, func(r Row) float64 { return r.MsgsPerS }, Count))
		add("echo-p99.png", "(a) Echo round-trip latency p99, us (lower is better)", oneCore,
			panels(gs, func(r Row) float64 { return r.P99Us }, us))
		add("echo-cpu.png", "(a) Echo server CPU per message, us (lower is better)", oneCore,
			panels(gs, func(r Row) float64 { return r.ServerUsPerMsg }, func(v float64) string { return fmt.Sprintf("%.3f us", v) }))
	}
	const twoCores = "10% of the connections keep 20x the depth in flight; server and generator unpinned, GOMAXPROCS=2, two runners/loops/threads"
	if gs := Groups(rows, Skew); len(gs) > 0 {
		add("skew-throughput.png", "(b) Skew: light connections' throughput, msgs/s (higher is better)", twoCores,
			panels(gs, func(r Row) float64 {
				if r.Light == nil {
					return 0
				}
				return r.Light.MsgsPerS
			}, Count))
		add("skew-p99.png", "(b) Skew: light connections' latency p99, us (lower is better)", twoCores,
			panels(gs, lightP99, us))
	}
	if idle := idlePanels(rows); len(idle) > 0 {
		add("idle-memory.png", "(c) Memory per idle connection, bytes (lower is better)",
			"server on CPU 0 (GOMAXPROCS=1); kernel = half the growth of Slab + sockstat TCP mem (both ends of loopback)", idle)
	}
	if gs := Groups(rows, HTTP); len(gs) > 0 {
		const wrk = "wrk -t1 on CPU 1, server on CPU 0 (GOMAXPROCS=1, one runner/loop); GET /, keep-alive, no pipelining"
		add("http-throughput.png", "(d) HTTP/1.1 plaintext, requests/s (higher is better)", wrk,
			panels(gs, func(r Row) float64 { return r.MsgsPerS }, Count))
		add("http-p99.png", "(d) HTTP/1.1 plaintext latency p99, us (lower is better)", wrk,
			panels(gs, func(r Row) float64 { return r.P99Us }, us))
	}
	return out
}

// panels makes one panel per configuration with one bar per server: the median of f.
func panels(gs []*Group, f func(Row) float64, format func(float64) string) []chart.Panel {
	var ps []chart.Panel
	for _, g := range gs {
		p := chart.Panel{Title: ascii(g.Label())}
		for _, s := range g.Servers {
			st := Of(g.Runs[s], f)
			b := chart.Bar{Label: s, Accent: IsCoio(s)}
			if st.N == 0 {
				b.Err = ascii(oneLine(FirstError(g.Runs[s]), 200))
				if b.Err == "" {
					b.Err = "no figure"
				}
			} else {
				b.Value, b.Text = st.Median, format(st.Median)
			}
			p.Bars = append(p.Bars, b)
		}
		ps = append(ps, p)
	}
	return ps
}

// idlePanels makes the idle-memory panels: server RSS per connection at each step,
// the kernel's per connection at the last, and the projection to 1,000,000.
func idlePanels(rows []Row) []chart.Panel {
	var idle []Row
	var steps []int
	for _, r := range rows {
		if r.Scenario != Idle {
			continue
		}
		idle = append(idle, r)
		for _, s := range r.Steps {
			if !slices.Contains(steps, s.Conns) {
				steps = append(steps, s.Conns)
			}
		}
	}
	if len(idle) == 0 {
		return nil
	}
	slices.Sort(steps)
	bar := func(r Row, ok bool, v float64, text string) chart.Bar {
		b := chart.Bar{Label: r.Server, Accent: IsCoio(r.Server)}
		switch {
		case r.Failed():
			b.Err = ascii(oneLine(r.Error, 200))
		case !ok:
			b.Err = "no figure"
		default:
			b.Value, b.Text = v, text
		}
		return b
	}
	var ps []chart.Panel
	for _, n := range steps {
		p := chart.Panel{Title: fmt.Sprintf("server RSS per connection, %s connections open", Count(float64(n)))}
		for _, r := range idle {
			i := slices.IndexFunc(r.Steps, func(s IdleStep) bool { return s.Conns == n })
			v := 0.0
			if i >= 0 {
				v = r.Steps[i].RSSPerConn
			}
			p.Bars = append(p.Bars, bar(r, i >= 0, v, Count(v)+" B"))
		}
		ps = append(ps, p)
	}
	kern := chart.Panel{Title: "kernel per connection (server's end), last step"}
	proj := chart.Panel{Title: "1,000,000 connections at the last slope: server RSS, GiB"}
	for _, r := range idle {
		ok := len(r.Steps) > 0
		kern.Bars = append(kern.Bars, bar(r, ok, r.KernelPerConn, Count(r.KernelPerConn)+" B"))
		proj.Bars = append(proj.Bars, bar(r, ok, r.Proj1MServerMiB/1024, fmt.Sprintf("%.2f GiB", r.Proj1MServerMiB/1024)))
	}
	return append(ps, kern, proj)
}

// ascii replaces the characters the bitmap font lacks.
func ascii(s string) string {
	b := make([]rune, 0, len(s))
	for _, r := range s {
		switch {
		case r == 'µ':
			b = append(b, 'u')
		case r == '×':
			b = append(b, 'x')
		case r == '–' || r == '—':
			b = append(b, '-')
		case r == '…':
			b = append(b, '.', '.', '.')
		case r < 32 || r > 126:
			b = append(b, '?')
		default:
			b = append(b, r)
		}
	}
	return string(b)
}
