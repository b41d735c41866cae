// Command benchreport turns the JSON lines that echoload prints (one per run) into a
// Markdown report: a table with every run, then for each configuration (connections,
// size, depth) the median server CPU per message of each server and the ratio of one
// server to a baseline.
//
//	benchreport -num coio -den gonet < results.jsonl > results.md
//	benchreport -progress < results.jsonl     # one line per run
//
// Given the JSON lines of a benchmatrix run (rows that name their "scenario"), it
// writes that run's report instead (the results.md benchmatrix writes itself).
//
// The server's name is the run's "server" label (echoload -label server=NAME). Runs
// where other processes used more than -noisy percent of a core during the window, or
// whose quietness check before the run failed (label quiet=no), are marked.
package main

import (
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"

	"github.com/coionet/coio/bench/internal/results"
)

// run holds the fields of an echoload JSON line that the report uses.
type run struct {
	Date      string            `json:"date"`
	Labels    map[string]string `json:"labels"`
	Conns     int               `json:"conns"`
	Size      int               `json:"size"`
	Depth     int               `json:"depth"`
	WarmupS   float64           `json:"warmup_s"`
	WindowS   float64           `json:"window_s"`
	MsgsPerS  float64           `json:"msgs_per_s"`
	P50Us     float64           `json:"p50_us"`
	P99Us     float64           `json:"p99_us"`
	P999Us    float64           `json:"p999_us"`
	Jain      float64           `json:"jain"`
	Slowest   float64           `json:"slowest_share"`
	Errors    int               `json:"conn_errors"`
	GenPct    float64           `json:"gen_cpu_pct"`
	GenUs     float64           `json:"gen_cpu_us_per_msg"`
	GenAllocs uint64            `json:"gen_allocs"`
	SrvPct    float64           `json:"server_cpu_pct"`
	SrvUs     float64           `json:"server_cpu_us_per_msg"`
	SrvUserS  float64           `json:"server_user_s"`
	SrvSysS   float64           `json:"server_sys_s"`
	SrvErr    string            `json:"server_stat_error"`
	OthersPct float64           `json:"others_pct"`
	Kernel    string            `json:"kernel"`
	GoVersion string            `json:"go_version"`
	NumCPU    int               `json:"num_cpu"`
}

type key struct{ conns, size, depth int }

func main() {
	num := flag.String("num", "coio", "server whose CPU per message is the numerator of the ratio")
	den := flag.String("den", "gonet", "server whose CPU per message is the denominator (the baseline)")
	noisy := flag.Float64("noisy", 10, "mark runs where other processes used more than this `percent` of a core")
	progress := flag.Bool("progress", false, "print one short line per run instead of the report")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("benchreport: ")

	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		log.Fatal(err)
	}
	if rows, err := results.Read(bytes.NewReader(input)); err == nil && results.IsMatrix(rows) && !*progress {
		results.WriteMarkdown(os.Stdout, rows)
		return
	}
	runs, err := read(bytes.NewReader(input))
	if err != nil {
		log.Fatal(err)
	}
	if len(runs) == 0 {
		log.Fatal("no runs on standard input")
	}
	if *progress {
		for _, r := range runs {
			fmt.Printf("%-6s rep %s conns %4d size %d depth %d: %8.0f msg/s  server %.3f µs/msg (%.0f%% cpu)  p50 %.0f µs p99 %.0f µs  gen %.0f%%  others %.1f%%  %s\n",
				label(r, "server"), label(r, "rep"), r.Conns, r.Size, r.Depth, r.MsgsPerS, r.SrvUs, r.SrvPct,
				r.P50Us, r.P99Us, r.GenPct, r.OthersPct, note(r, *noisy))
		}
		return
	}
	write(os.Stdout, runs, *num, *den, *noisy)
}

func read(r io.Reader) ([]run, error) { return results.ReadLines[run](r) }

func write(w io.Writer, runs []run, num, den string, noisy float64) {
	first := runs[0]
	fmt.Fprintf(w, "## Echo: server CPU per message\n\n")
	fmt.Fprintf(w, "%s; kernel %s, %d CPUs, %s; commit %s; warmup %gs, window %.1fs; server on CPU 0 (GOMAXPROCS=1), echoload on CPU 1.\n\n",
		first.Date, first.Kernel, first.NumCPU, first.GoVersion, label(first, "commit"), first.WarmupS, first.WindowS)

	fmt.Fprintln(w, "| conns | size | depth | server | rep | msgs/s | server µs/msg | server CPU % | server sys % | p50 µs | p99 µs | p99.9 µs | Jain | slowest | gen CPU % | gen µs/msg | others % | quiet before | note |")
	fmt.Fprintln(w, "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
	for _, r := range runs {
		sysShare := 0.0
		if t := r.SrvUserS + r.SrvSysS; t > 0 {
			sysShare = 100 * r.SrvSysS / t
		}
		fmt.Fprintf(w, "| %d | %d | %d | %s | %s | %.0f | %.3f | %.1f | %.1f | %.1f | %.1f | %.1f | %.4f | %.3f | %.1f | %.3f | %.1f | %s | %s |\n",
			r.Conns, r.Size, r.Depth, label(r, "server"), label(r, "rep"), r.MsgsPerS, r.SrvUs, r.SrvPct, sysShare,
			r.P50Us, r.P99Us, r.P999Us, r.Jain, r.Slowest, r.GenPct, r.GenUs, r.OthersPct,
			quiet(r), note(r, noisy))
	}

	// Ratios per configuration, from the medians of each server's repetitions.
	groups := map[key]map[string][]run{}
	var keys []key
	for _, r := range runs {
		k := key{r.Conns, r.Size, r.Depth}
		if groups[k] == nil {
			groups[k] = map[string][]run{}
			keys = append(keys, k)
		}
		s := label(r, "server")
		groups[k][s] = append(groups[k][s], r)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.conns, b.conns), cmp.Compare(a.size, b.size), cmp.Compare(a.depth, b.depth))
	})
	fmt.Fprintf(w, "\n### Ratio %s / %s\n\n", num, den)
	fmt.Fprintf(w, "Medians of the repetitions (min–max in parentheses). CPU/msg ratio below 1: %s spends less server CPU per message; msgs/s ratio above 1: %s is faster; p99 ratio below 1: %s's tail is shorter.\n\n", num, num, num)
	fmt.Fprintf(w, "| conns | size | depth | %s µs/msg | %s µs/msg | CPU/msg ratio | %s msgs/s | %s msgs/s | msgs/s ratio | p99 ratio | reps |\n", num, den, num, den)
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, k := range keys {
		a, b := groups[k][num], groups[k][den]
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		aUs, bUs := median(a, func(r run) float64 { return r.SrvUs }), median(b, func(r run) float64 { return r.SrvUs })
		aM, bM := median(a, func(r run) float64 { return r.MsgsPerS }), median(b, func(r run) float64 { return r.MsgsPerS })
		aP, bP := median(a, func(r run) float64 { return r.P99Us }), median(b, func(r run) float64 { return r.P99Us })
		fmt.Fprintf(w, "| %d | %d | %d | %s | %s | **%.3f** | %s | %s | %.3f | %.3f | %d+%d |\n",
			k.conns, k.size, k.depth, spread(a, aUs, func(r run) float64 { return r.SrvUs }, "%.3f"),
			spread(b, bUs, func(r run) float64 { return r.SrvUs }, "%.3f"), ratio(aUs, bUs),
			spread(a, aM, func(r run) float64 { return r.MsgsPerS }, "%.0f"),
			spread(b, bM, func(r run) float64 { return r.MsgsPerS }, "%.0f"), ratio(aM, bM), ratio(aP, bP), len(a), len(b))
	}
	fmt.Fprintln(w)
}

func label(r run, k string) string {
	if v, ok := r.Labels[k]; ok {
		return v
	}
	return "?"
}

func quiet(r run) string {
	q, pct := label(r, "quiet"), label(r, "busy_before_pct")
	if q == "?" {
		return "?"
	}
	return fmt.Sprintf("%s (%s%%)", q, pct)
}

// note flags what makes a run doubtful.
func note(r run, noisy float64) string {
	var n []string
	if r.OthersPct > noisy {
		n = append(n, fmt.Sprintf("noisy: others %.0f%%", r.OthersPct))
	}
	if label(r, "quiet") == "no" {
		n = append(n, "busy before")
	}
	if r.GenPct > 95 {
		n = append(n, "gen ≥95%")
	}
	if r.Errors > 0 {
		n = append(n, fmt.Sprintf("%d conn errors", r.Errors))
	}
	if r.SrvErr != "" {
		n = append(n, "no server CPU")
	}
	if r.GenAllocs > 0 {
		n = append(n, fmt.Sprintf("%d gen allocs", r.GenAllocs))
	}
	return strings.Join(n, "; ")
}

func median(rs []run, f func(run) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// spread formats a median with the min–max of the repetitions when there are several.
func spread(rs []run, med float64, f func(run) float64, format string) string {
	s := fmt.Sprintf(format, med)
	if len(rs) < 2 {
		return s
	}
	lo, hi := f(rs[0]), f(rs[0])
	for _, r := range rs[1:] {
		lo, hi = min(lo, f(r)), max(hi, f(r))
	}
	return s + " (" + fmt.Sprintf(format, lo) + "–" + fmt.Sprintf(format, hi) + ")"
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
