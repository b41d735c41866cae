package results

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Group is the runs of one configuration of one scenario: every server's repetitions.
type Group struct {
	Scenario string
	Key      [3]int // echo and skew: size, conns, depth; HTTP and idle: 0, conns, 0
	Servers  []string
	Runs     map[string][]Row
}

// Label describes the configuration, e.g. "64 B, 100 conns, depth 1".
func (g *Group) Label() string {
	switch g.Scenario {
	case Echo:
		return fmt.Sprintf("%s, %s conns, depth %d", Bytes(g.Key[0]), Count(float64(g.Key[1])), g.Key[2])
	case Skew:
		return fmt.Sprintf("%s, %s conns, depth %d (10%% at ×20)", Bytes(g.Key[0]), Count(float64(g.Key[1])), g.Key[2])
	case HTTP:
		return fmt.Sprintf("%s conns", Count(float64(g.Key[1])))
	case Idle:
		return fmt.Sprintf("%s idle conns", Count(float64(g.Key[1])))
	}
	return ""
}

// Key is the configuration a row belongs to.
func (r Row) Key() [3]int {
	if r.Scenario == Echo || r.Scenario == Skew {
		return [3]int{r.Size, r.Conns, r.Depth}
	}
	return [3]int{0, r.Conns, 0}
}

// Groups returns the configurations of a scenario in order (size, conns, depth), each
// with its servers in the order they first ran. The runs of the pairs after the
// matrix are not in them (Pairs has those).
func Groups(rows []Row, scenario string) []*Group {
	var gs []*Group
	byKey := map[[3]int]*Group{}
	for _, r := range rows {
		if r.Scenario != scenario || r.Pair > 0 {
			continue
		}
		k := r.Key()
		g := byKey[k]
		if g == nil {
			g = &Group{Scenario: scenario, Key: k, Runs: map[string][]Row{}}
			byKey[k] = g
			gs = append(gs, g)
		}
		if _, ok := g.Runs[r.Server]; !ok {
			g.Servers = append(g.Servers, r.Server)
		}
		g.Runs[r.Server] = append(g.Runs[r.Server], r)
	}
	slices.SortFunc(gs, func(a, b *Group) int {
		return cmp.Or(cmp.Compare(a.Key[0], b.Key[0]), cmp.Compare(a.Key[1], b.Key[1]), cmp.Compare(a.Key[2], b.Key[2]))
	})
	return gs
}

// Stat is a figure over a server's successful repetitions.
type Stat struct {
	Median, Min, Max float64
	N                int // successful repetitions
}

// Of computes f over the successful runs.
func Of(runs []Row, f func(Row) float64) Stat {
	var v []float64
	for _, r := range runs {
		if !r.Failed() {
			v = append(v, f(r))
		}
	}
	return median(v)
}

// Format prints the median, with min–max when there are several repetitions.
func (s Stat) Format(f func(float64) string) string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 || s.Min == s.Max {
		return f(s.Median)
	}
	return f(s.Median) + " (" + f(s.Min) + "–" + f(s.Max) + ")"
}

// FirstError returns the error of the first failed run, "" if none failed.
func FirstError(runs []Row) string {
	for _, r := range runs {
		if r.Failed() {
			return r.Error
		}
	}
	return ""
}

// Count formats a count with thousands separators: 12,345.
func Count(v float64) string {
	neg := v < 0
	s := fmt.Sprintf("%.0f", abs(v))
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Bytes formats a message size: 64 B, 4 KiB.
func Bytes(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// Fixed formats with the given number of decimals.
func Fixed(decimals int) func(float64) string {
	return func(v float64) string { return fmt.Sprintf("%.*f", decimals, v) }
}

// Sig formats a latency or other positive figure with about three significant digits.
func Sig(v float64) string {
	switch a := abs(v); {
	case a >= 1000:
		return Count(v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
