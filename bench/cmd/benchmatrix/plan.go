package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coionet/coio/bench/internal/results"
)

// preset is the size of a matrix run.
type preset struct {
	name       string
	warmup     time.Duration
	window     time.Duration
	reps       int
	echo       [][3]int // size, conns, depth
	skew       []int    // conns (64 B, depth 1, 10% heavy at 20× the depth)
	idle       []int    // steps of open connections
	idleSettle time.Duration
	http       []int         // wrk connections
	quiet      time.Duration // one /proc/stat sample before a run
	quietTries int           // samples until the machine is quiet
	pairs      int           // pairs of coio against the best peer per configuration, after the matrix
}

var presets = map[string]preset{
	// short is what `make bench` runs: every scenario and every server, a subset of
	// the configurations, short windows, one repetition, then three pairs of coio
	// against each configuration's best peer. About 3 minutes of runs (the estimate
	// says 3m20s; its overheads are generous), so that with the installs and a cold
	// build it stays under 5 minutes.
	"short": {
		name: "short", warmup: 300 * time.Millisecond, window: 1000 * time.Millisecond, reps: 1,
		echo:       [][3]int{{64, 100, 1}, {4096, 1000, 16}},
		skew:       []int{100},
		idle:       []int{10000, 19000},
		idleSettle: 500 * time.Millisecond,
		http:       []int{100},
		quiet:      200 * time.Millisecond, quietTries: 1,
		pairs: 3,
	},
	// full is the whole matrix of shared/BENCH.md and issue #8, with its warmup,
	// window and repetitions (A B … B A), then four pairs per configuration. About 75
	// minutes.
	"full": {
		name: "full", warmup: 2 * time.Second, window: 10 * time.Second, reps: 2,
		echo: [][3]int{
			{64, 100, 1}, {64, 100, 16}, {64, 1000, 1}, {64, 1000, 16},
			{4096, 100, 1}, {4096, 100, 16}, {4096, 1000, 1}, {4096, 1000, 16},
		},
		skew:       []int{100, 1000},
		idle:       []int{10000, 19000},
		idleSettle: 2 * time.Second,
		http:       []int{100, 1000},
		quiet:      time.Second, quietTries: 3,
		pairs: 4,
	},
}

// job is one run of one server, or of a pair at once.
type job struct {
	scenario string
	server   string
	rep      int
	size     int
	conns    int
	depth    int
	steps    []int // idle

	// A run of the pairs after the matrix: the pair's number (0 for the matrix's
	// own runs) and its servers A (coio) and B (the best peer).
	pair int
	a, b string
}

func (j job) String() string {
	if j.pair > 0 {
		return fmt.Sprintf("pair %d %-4s %-10s: %s", j.pair, j.scenario, j.server, j.config())
	}
	switch j.scenario {
	case results.Echo, results.Skew:
		return fmt.Sprintf("%-4s %-10s rep %d: %s, %d conns, depth %d", j.scenario, j.server, j.rep, results.Bytes(j.size), j.conns, j.depth)
	case results.Idle:
		return fmt.Sprintf("%-4s %-10s rep %d: %v conns", j.scenario, j.server, j.rep, j.steps)
	}
	return fmt.Sprintf("%-4s %-10s rep %d: %d conns", j.scenario, j.server, j.rep, j.conns)
}

// config describes a job's configuration.
func (j job) config() string {
	switch j.scenario {
	case results.Echo, results.Skew:
		return fmt.Sprintf("%s, %d conns, depth %d", results.Bytes(j.size), j.conns, j.depth)
	}
	return fmt.Sprintf("%d conns", j.conns)
}

// pairJobs lists the pairs that follow the matrix: for each echo, skew and HTTP
// configuration in which server a ran, p.pairs pairs of a against the best peer of
// that configuration in the matrix's rows, one after the other, a first in odd pairs
// and b first in even ones. They run as the matrix's runs do: two servers at once
// (pairs.sh --together) would be more precise on this machine but is another regime,
// half a core each, which favours the server that batches (coio on io_uring: 0.73 of
// netpoll at 64 B × 100 × 1 at once, in a run whose matrix put it at 1.27).
func pairJobs(p preset, a string, rows []results.Row) []job {
	var jobs []job
	for _, sc := range []string{results.Echo, results.Skew, results.HTTP} {
		for _, g := range results.Groups(rows, sc) {
			_, f, _, _ := results.Figure(sc)
			b := results.BestPeer(g, a)
			if b == "" || results.Of(g.Runs[a], f).Median <= 0 {
				continue // no peer, or no figure of a's to compare
			}
			for n := 1; n <= p.pairs; n++ {
				j := job{scenario: sc, size: g.Key[0], conns: g.Key[1], depth: g.Key[2], pair: n, a: a, b: b, rep: n}
				first, second := a, b
				if n%2 == 0 {
					first, second = b, a
				}
				j.server = first
				jobs = append(jobs, j)
				j.server = second
				jobs = append(jobs, j)
			}
		}
	}
	return jobs
}

// pairPlan is what pairJobs will make, for the dry run and the time estimate, before
// the matrix has said which peer is best: one peer per configuration, in the
// scenarios whose server list has pairA and a peer.
func pairPlan(p preset, scenarios, echoList, httpList []string) []job {
	withPeer := func(list []string) []string {
		if !slices.Contains(list, pairA) || !slices.ContainsFunc(list, func(s string) bool { return !results.IsCoio(s) }) {
			return nil
		}
		return []string{pairA, "best-peer"}
	}
	var rows []results.Row
	for _, j := range plan(p, scenarios, withPeer(echoList), withPeer(httpList)) {
		rows = append(rows, results.Row{Scenario: j.scenario, Server: j.server, Size: j.size, Conns: j.conns, Depth: j.depth,
			ServerUsPerMsg: 1, MsgsPerS: 1, Light: &results.Class{P99Us: 1}, RSSPerConn: 1})
	}
	return pairJobs(p, pairA, rows)
}

// order returns the servers' run order for reps repetitions: A B … then … B A.
func order(servers []string, reps int) []string {
	var o []string
	for r := range reps {
		if r%2 == 0 {
			o = append(o, servers...)
		} else {
			o = append(o, reversed(servers)...)
		}
	}
	return o
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// plan lists the jobs of a matrix run, scenario by scenario, configuration by
// configuration, each configuration's servers in A B … B A order.
func plan(p preset, scenarios, echoServers, httpServers []string) []job {
	var jobs []job
	each := func(servers []string, reps int, mk func(server string, rep int) job) {
		rep := map[string]int{}
		for _, s := range order(servers, reps) {
			rep[s]++
			jobs = append(jobs, mk(s, rep[s]))
		}
	}
	for _, sc := range scenarios {
		switch sc {
		case results.Echo:
			for _, c := range p.echo {
				each(echoServers, p.reps, func(s string, rep int) job {
					return job{scenario: sc, server: s, rep: rep, size: c[0], conns: c[1], depth: c[2]}
				})
			}
		case results.Skew:
			for _, n := range p.skew {
				each(echoServers, p.reps, func(s string, rep int) job {
					return job{scenario: sc, server: s, rep: rep, size: 64, conns: n, depth: 1}
				})
			}
		case results.Idle:
			// One repetition: a run is already two measurements (the steps), and its
			// figures are not rates that noise shifts much.
			each(echoServers, 1, func(s string, rep int) job {
				return job{scenario: sc, server: s, rep: rep, conns: p.idle[len(p.idle)-1], steps: p.idle}
			})
		case results.HTTP:
			for _, n := range p.http {
				each(httpServers, p.reps, func(s string, rep int) job {
					return job{scenario: sc, server: s, rep: rep, conns: n}
				})
			}
		}
	}
	return jobs
}

// wrkSeconds is a duration as wrk takes it: whole seconds, at least one.
func wrkSeconds(d time.Duration) int { return max(1, int(d.Round(time.Second)/time.Second)) }

// estimate is how long a job should take, with the server's start and stop.
func estimate(p preset, j job) time.Duration {
	const overhead = time.Second // build-up and tear-down of server and generator
	quiet := p.quiet
	switch j.scenario {
	case results.Echo, results.Skew:
		return quiet + p.warmup + p.window + overhead
	case results.Idle:
		// about 8,000 connections a second to open and echo, then the settle time
		n := j.steps[len(j.steps)-1]
		return quiet + time.Duration(len(j.steps))*p.idleSettle + time.Duration(n)*time.Second/8000 + overhead
	case results.HTTP:
		return quiet + time.Duration(wrkSeconds(p.warmup)+wrkSeconds(p.window))*time.Second + overhead
	}
	return 0
}

// splitList splits a comma- or space-separated list.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// parseSteps parses "10000,19000".
func parseSteps(s string) ([]int, error) {
	var steps []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 19500 || (len(steps) > 0 && n <= steps[len(steps)-1]) {
			return nil, fmt.Errorf("bad idle steps %q: want increasing counts of at most 19500 (the open-file limit is 20,000)", s)
		}
		steps = append(steps, n)
	}
	return steps, nil
}
