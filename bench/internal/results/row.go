// Package results reads the JSON lines that bench/cmd/benchmatrix writes (one per
// run of one server in one scenario) and turns them into the Markdown report and the
// PNG charts.
//
// A row is flat: the generator's own JSON (echoload's, idleconns' or the fields the
// matrix takes from wrk) plus the matrix's fields: scenario, server, rep, run, preset,
// layout, date, commit, machine, quietness, and error for a run that did not happen
// (a server that failed to start, a generator that failed).
package results

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// The scenarios, as the "scenario" field names them.
const (
	Echo = "echo" // (a) echo throughput, latency and CPU per message, one core
	Skew = "skew" // (b) 10% heavy connections, two cores
	Idle = "idle" // (c) memory per idle connection
	HTTP = "http" // (d) HTTP/1.1 plaintext with wrk
)

// Scenarios lists them in report order.
var Scenarios = []string{Echo, Skew, Idle, HTTP}

// Machine names the machine a run was taken on.
type Machine struct {
	CPU    string  `json:"cpu"`
	Cores  int     `json:"cores"`
	Kernel string  `json:"kernel"`
	MemGiB float64 `json:"mem_gib"`
}

// String is e.g. "AMD EPYC, 2 cores, Linux 6.18.44, 24 GiB".
func (m Machine) String() string {
	return fmt.Sprintf("%s, %d cores, Linux %s, %.0f GiB", m.CPU, m.Cores, m.Kernel, m.MemGiB)
}

// Class is the light or the heavy connections of a skew run.
type Class struct {
	Conns        int     `json:"conns"`
	Depth        int     `json:"depth"`
	MsgsPerS     float64 `json:"msgs_per_s"`
	PerConnPerS  float64 `json:"per_conn_msgs_per_s"`
	P50Us        float64 `json:"p50_us"`
	P99Us        float64 `json:"p99_us"`
	P999Us       float64 `json:"p999_us"`
	Jain         float64 `json:"jain"`
	SlowestShare float64 `json:"slowest_share"`
}

// IdleStep is one step of an idle-connection run.
type IdleStep struct {
	Conns         int     `json:"conns"`
	RSS           int64   `json:"rss_b"`
	RSSPerConn    float64 `json:"rss_per_conn_b"`
	AnonPerConn   float64 `json:"anon_per_conn_b"`
	RSSSlope      float64 `json:"rss_slope_b"`
	AnonSlope     float64 `json:"anon_slope_b"`
	SockMemPer    float64 `json:"tcp_mem_per_conn_b"`
	SlabPer       float64 `json:"slab_per_conn_b"`
	KernelPerConn float64 `json:"kernel_per_conn_b"`
	KernelSlope   float64 `json:"kernel_slope_b"`
}

// Row is one run: the fields of a JSON line that the report and the charts use.
type Row struct {
	Scenario      string  `json:"scenario"`
	Server        string  `json:"server"`
	Rep           int     `json:"rep"`
	Run           int     `json:"run"`
	Preset        string  `json:"preset"`
	Layout        string  `json:"layout"`
	ServerCmd     string  `json:"server_cmd"`
	Date          string  `json:"date"`
	Commit        string  `json:"commit"`
	Machine       Machine `json:"machine"`
	GoVersion     string  `json:"go_version"`
	Error         string  `json:"error"`
	Quiet         string  `json:"quiet"`
	BusyBeforePct float64 `json:"busy_before_pct"`

	// A run of the pairs that follow the matrix (pairs.go): the pair's number (0 for
	// a run of the matrix itself) and its two servers.
	Pair  int    `json:"pair"`
	PairA string `json:"pair_a"`
	PairB string `json:"pair_b"`

	// Echo, skew and HTTP (for HTTP a message is a request).
	Conns          int     `json:"conns"`
	Size           int     `json:"size"`
	Depth          int     `json:"depth"`
	WarmupS        float64 `json:"warmup_s"`
	WindowS        float64 `json:"window_s"`
	MsgsPerS       float64 `json:"msgs_per_s"`
	P50Us          float64 `json:"p50_us"`
	P99Us          float64 `json:"p99_us"`
	P999Us         float64 `json:"p999_us"`
	Jain           float64 `json:"jain"`
	Slowest        float64 `json:"slowest_share"`
	ConnErrors     int     `json:"conn_errors"`
	Stalled        int     `json:"stalled_conns"`  // connections that completed nothing in the window
	Unserved       int     `json:"unserved_conns"` // of those, the ones never served
	GenCPUPct      float64 `json:"gen_cpu_pct"`
	GenUsPerMsg    float64 `json:"gen_cpu_us_per_msg"`
	GenAllocs      uint64  `json:"gen_allocs"`
	ServerCPUPct   float64 `json:"server_cpu_pct"`
	ServerUsPerMsg float64 `json:"server_cpu_us_per_msg"`
	ServerUserS    float64 `json:"server_user_s"`
	ServerSysS     float64 `json:"server_sys_s"`
	ServerStatErr  string  `json:"server_stat_error"`
	OthersPct      float64 `json:"others_pct"`

	// Skew.
	Skew          float64 `json:"skew"`
	SkewFactor    int     `json:"skew_factor"`
	Light         *Class  `json:"light"`
	Heavy         *Class  `json:"heavy"`
	HeavyPerLight float64 `json:"heavy_per_light"`

	// Idle connections.
	Steps           []IdleStep `json:"steps"`
	RSSPerConn      float64    `json:"rss_per_conn_b"`
	AnonPerConn     float64    `json:"anon_per_conn_b"`
	RSSSlope        float64    `json:"rss_slope_b"`
	KernelPerConn   float64    `json:"kernel_per_conn_b"`
	KernelSlope     float64    `json:"kernel_slope_b"`
	Proj1MServerMiB float64    `json:"proj_1m_server_mib"`
	Proj1MKernelMiB float64    `json:"proj_1m_kernel_mib"`

	// HTTP.
	Requests   int64 `json:"requests"`
	HTTPErrors int64 `json:"http_errors"`
}

// Failed reports whether the run produced no figures.
func (r Row) Failed() bool { return r.Error != "" }

// Stamp names where a row was taken: machine, date and commit, e.g.
// "AMD EPYC ×2, 6.18.44 · 2026-11-25 · ab2a3ea".
func (r Row) Stamp() string {
	date, _, _ := strings.Cut(r.Date, "T")
	kernel, _, _ := strings.Cut(r.Machine.Kernel, "-")
	return fmt.Sprintf("%s ×%d, %s · %s · %s", r.Machine.CPU, r.Machine.Cores, kernel, date, r.Commit)
}

// Read reads rows from JSON lines.
func Read(r io.Reader) ([]Row, error) { return ReadLines[Row](r) }

// ReadLines decodes JSON lines into values of T (blank lines and lines not starting
// with '{' are skipped), for every tool that reads a results file.
func ReadLines[T any](r io.Reader) ([]T, error) {
	var out []T
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] != '{' {
			continue
		}
		var x T
		if err := json.Unmarshal([]byte(text), &x); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, x)
	}
	return out, sc.Err()
}

// IsMatrix reports whether rows come from benchmatrix (they name their scenario).
func IsMatrix(rows []Row) bool {
	for _, r := range rows {
		if r.Scenario != "" {
			return true
		}
	}
	return false
}
