package results

import (
	"fmt"
	"io"
	"slices"
)

// Figure is the figure a scenario ranks servers by, as the summary shows it: its name,
// how to read it from a row, whether lower is better, and how to print it. Idle
// memory has one too, though no pairs are run for it (its figures do not drift).
func Figure(scenario string) (name string, f func(Row) float64, lowerIsBetter bool, format func(float64) string) {
	switch scenario {
	case Echo:
		return "server µs/msg", func(r Row) float64 { return r.ServerUsPerMsg }, true, Fixed(3)
	case Skew:
		return "light p99 µs", lightP99, true, Sig
	case Idle:
		return "server RSS B/conn", func(r Row) float64 { return r.RSSPerConn }, true, Count
	case HTTP:
		return "req/s", func(r Row) float64 { return r.MsgsPerS }, false, Count
	}
	return "", nil, false, nil
}

// BestPeer is the peer (neither one of coio's servers nor not) with the best median of
// the scenario's figure in a group, "" when no other peer has a successful run.
func BestPeer(g *Group, not string) string {
	_, f, lower, _ := Figure(g.Scenario)
	if f == nil {
		return ""
	}
	h := *g
	h.Servers = slices.DeleteFunc(slices.Clone(g.Servers), func(s string) bool { return s == not })
	name, _ := best(&h, f, lower)
	return name
}

// A Pair is one pair of runs after the matrix: server A (coio) and B (the best peer
// of the configuration in the matrix), one after the other.
type Pair struct {
	N    int
	A, B Row
}

// Ratio is A's figure over B's, 0 when either run failed or has no figure.
func (p Pair) Ratio(f func(Row) float64) float64 {
	if p.A.Failed() || p.B.Failed() {
		return 0
	}
	a, b := f(p.A), f(p.B)
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}

// Pairs returns the complete pairs of a configuration in order; a pair missing a run
// (the matrix was stopped) is left out.
func Pairs(rows []Row, scenario string, key [3]int) []Pair {
	byN := map[int]*Pair{}
	var ns []int
	for _, r := range rows {
		if r.Scenario != scenario || r.Pair == 0 || r.Key() != key {
			continue
		}
		p := byN[r.Pair]
		if p == nil {
			p = &Pair{N: r.Pair}
			byN[r.Pair] = p
			ns = append(ns, r.Pair)
		}
		switch r.Server {
		case r.PairA:
			p.A = r
		case r.PairB:
			p.B = r
		}
	}
	slices.Sort(ns)
	var out []Pair
	for _, n := range ns {
		if p := byN[n]; p.A.Server != "" && p.B.Server != "" {
			out = append(out, *p)
		}
	}
	return out
}

// PairStat sums up the ratios of a configuration's pairs.
type PairStat struct {
	Median, Min, Max float64
	N                int // pairs with a ratio
	AWins            int // pairs where A's figure was the better one
	A, B             string
}

// StatOf computes the median ratio A/B over the pairs and how often A was better.
func StatOf(ps []Pair, f func(Row) float64, lowerIsBetter bool) PairStat {
	var s PairStat
	var rs []float64
	for _, p := range ps {
		s.A, s.B = p.A.Server, p.B.Server
		r := p.Ratio(f)
		if r == 0 {
			continue
		}
		rs = append(rs, r)
		if (lowerIsBetter && r < 1) || (!lowerIsBetter && r > 1) {
			s.AWins++
		}
	}
	st := median(rs)
	s.Median, s.Min, s.Max, s.N = st.Median, st.Min, st.Max, st.N
	return s
}

// median is Of's arithmetic on plain values.
func median(v []float64) Stat {
	if len(v) == 0 {
		return Stat{}
	}
	v = slices.Clone(v)
	slices.Sort(v)
	s := Stat{Min: v[0], Max: v[len(v)-1], N: len(v)}
	if len(v)%2 == 1 {
		s.Median = v[len(v)/2]
	} else {
		s.Median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return s
}

// writePairs writes every pair's figures and ratio.
func writePairs(w io.Writer, rows []Row) {
	if !slices.ContainsFunc(rows, func(r Row) bool { return r.Pair > 0 }) {
		return
	}
	fmt.Fprintf(w, "## Pairs: coio against the best peer\n\n")
	fmt.Fprintf(w, "After the matrix, coio and the best peer of each configuration (by the median above) ran again in pairs, one right after the other (coio first in odd pairs, the peer first in even ones), each run as in the matrix. A machine whose speed drifts between minutes moves one run by 20%% or more, and the matrix runs every other server between coio's run and its peer's; a pair's two runs meet nearly the same phase. The summary's pairs column is the median of these ratios. `bench/scripts/pairs.sh` runs more of them, or both servers at once (`--together`).\n\n")
	fmt.Fprintln(w, "| scenario | configuration | pair | figure | coio | peer | peer's figure | coio ÷ peer | note | run |")
	fmt.Fprintln(w, "|---|---|---:|---|---:|---|---:|---:|---|---|")
	for _, sc := range []string{Echo, Skew, HTTP} {
		name, f, _, format := Figure(sc)
		for _, g := range pairGroups(rows, sc) {
			for _, p := range Pairs(rows, sc, g.Key) {
				fig := func(r Row) string {
					if r.Failed() {
						return "failed"
					}
					return format(f(r))
				}
				ratio := "–"
				if r := p.Ratio(f); r > 0 {
					ratio = fmt.Sprintf("%.3f", r)
				}
				fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n",
					sc, g.Label(), p.N, name,
					fig(p.A), p.B.Server, fig(p.B), ratio, note([]Row{p.A, p.B}), p.A.Stamp())
			}
		}
	}
	fmt.Fprintln(w)
}

// pairGroups lists the configurations of a scenario that have pairs, in Groups' order.
func pairGroups(rows []Row, scenario string) []*Group {
	var pr []Row
	for _, r := range rows {
		if r.Scenario == scenario && r.Pair > 0 {
			r.Pair = 0 // so that Groups takes it
			pr = append(pr, r)
		}
	}
	return Groups(pr, scenario)
}
