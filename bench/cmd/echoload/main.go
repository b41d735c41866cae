//go:build linux

// Command echoload is a load generator for TCP echo servers, built not to be the
// bottleneck: one goroutine locked to its OS thread drives every connection through
// raw edge-triggered epoll and read/write system calls, and allocates nothing per
// message.
//
//	taskset -c 1 echoload -addr 127.0.0.1:7000 -conns 100 -size 64 -depth 1 \
//	    -warmup 2s -duration 10s -server-pid $(pgrep -n echo) -json
//
// It opens -conns connections (from several 127.0.0.x source addresses when asked or
// when there are too many for one address's ports), keeps -depth messages of -size
// bytes in flight on each (pipelined: it writes them, then counts echoed bytes, and
// each message that comes back whole is replaced by a new one), warms up for -warmup,
// then measures a window of -duration. It reports:
//
//   - messages per second over the window;
//   - round-trip latency p50, p99, p99.9 and max from a log-linear histogram (at depth
//     1 that is the plain round trip; deeper, it includes the wait behind the messages
//     ahead on the connection);
//   - fairness over the per-connection completed messages: Jain's index and the
//     slowest connection's share of the mean;
//   - with -skew F, a fraction F of the connections are heavy (-skew-factor times
//     -depth messages in flight): throughput, latency and fairness of the light and
//     the heavy connections apart, and how many times a light connection's
//     throughput a heavy one got;
//   - its own CPU time (getrusage) per message and as a percentage of one core, its
//     system calls per message, and its allocations during the window (expected 0);
//   - with -server-pid, the server's utime+stime from /proc/PID/stat sampled at the
//     window's edges: server CPU per message and as a percentage of one core;
//   - the whole machine's busy time from /proc/stat over the window, and what is left
//     of it once the server and echoload are taken away (other processes' noise).
//
// Only loopback addresses are accepted as targets, the run is bounded in time, and
// every loop is bounded in count.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// config is the run's parameters, checked.
type config struct {
	addr           string
	ip             [4]byte
	port           int
	conns          int
	size, depth    int
	warmup         time.Duration
	duration       time.Duration
	connectTimeout time.Duration
	sources        int
	skew           float64 // fraction of heavy connections (0: none)
	skewFactor     int     // a heavy connection's depth is skewFactor × depth
	serverPID      int
	jsonOut        bool
	labels         labels
}

// labels collects repeated -label key=value flags.
type labels map[string]string

func (l labels) String() string {
	var parts []string
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (l labels) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	l[k] = v
	return nil
}

// portsPerSource is how many connections one source address is given when -sources
// is left to be chosen: well inside the default ephemeral range (32768-60999).
const portsPerSource = 20000

func parseFlags() (config, error) {
	cfg := config{labels: labels{}}
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:7000", "server `host:port` (loopback only)")
	flag.IntVar(&cfg.conns, "conns", 100, "number of connections")
	flag.IntVar(&cfg.size, "size", 64, "message size in bytes")
	flag.IntVar(&cfg.depth, "depth", 1, "messages in flight per connection (pipelining depth)")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "warmup before the measured window")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of the measured window")
	flag.DurationVar(&cfg.connectTimeout, "connect-timeout", 10*time.Second, "time allowed to establish every connection")
	flag.IntVar(&cfg.sources, "sources", -1, "number of source addresses 127.0.0.2, 127.0.0.3, ... to bind (0: let the kernel pick 127.0.0.1; -1: 0 up to 20000 connections, then one per 20000)")
	flag.Float64Var(&cfg.skew, "skew", 0, "`fraction` of the connections (e.g. 0.1) that are heavy: they keep -skew-factor times -depth messages in flight, and the light connections' throughput and latency are reported apart")
	flag.IntVar(&cfg.skewFactor, "skew-factor", 20, "how many times deeper a heavy connection's pipeline is than -depth")
	flag.IntVar(&cfg.serverPID, "server-pid", 0, "`PID` of the server, whose CPU time is read from /proc at the window's edges")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print one JSON line instead of text")
	flag.Var(cfg.labels, "label", "`key=value` copied into the JSON output's labels (repeatable)")
	flag.Parse()
	if flag.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", flag.Args())
	}

	host, portStr, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return cfg, fmt.Errorf("-addr: %w", err)
	}
	if host == "localhost" || host == "" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host).To4()
	if ip == nil || !ip.IsLoopback() {
		return cfg, fmt.Errorf("-addr: %q is not an IPv4 loopback address (only 127.0.0.0/8 targets are allowed)", host)
	}
	copy(cfg.ip[:], ip)
	if cfg.port, err = strconv.Atoi(portStr); err != nil || cfg.port <= 0 || cfg.port > 65535 {
		return cfg, fmt.Errorf("-addr: bad port %q", portStr)
	}
	switch {
	case cfg.conns < 1 || cfg.conns > 1_000_000:
		return cfg, fmt.Errorf("-conns %d: want 1..1000000", cfg.conns)
	case cfg.size < 1 || cfg.size > 1<<20:
		return cfg, fmt.Errorf("-size %d: want 1..1048576", cfg.size)
	case cfg.depth < 1 || cfg.depth > 4096:
		return cfg, fmt.Errorf("-depth %d: want 1..4096", cfg.depth)
	case cfg.size*cfg.depth > 16<<20:
		return cfg, fmt.Errorf("-size × -depth = %d: want at most 16 MiB in flight per connection", cfg.size*cfg.depth)
	case cfg.warmup < 0 || cfg.warmup > 10*time.Minute:
		return cfg, fmt.Errorf("-warmup %v: want 0..10m", cfg.warmup)
	case cfg.duration < 100*time.Millisecond || cfg.duration > time.Hour:
		return cfg, fmt.Errorf("-duration %v: want 100ms..1h", cfg.duration)
	case cfg.connectTimeout <= 0 || cfg.connectTimeout > 10*time.Minute:
		return cfg, fmt.Errorf("-connect-timeout %v: want 0..10m", cfg.connectTimeout)
	case cfg.sources > 250:
		return cfg, fmt.Errorf("-sources %d: want at most 250", cfg.sources)
	case cfg.skew < 0 || cfg.skew >= 1:
		return cfg, fmt.Errorf("-skew %v: want 0 (off) or a fraction below 1", cfg.skew)
	case cfg.skew > 0 && (cfg.skewFactor < 1 || cfg.skewFactor > 1000):
		return cfg, fmt.Errorf("-skew-factor %d: want 1..1000", cfg.skewFactor)
	case cfg.skew > 0 && (cfg.heavyConns() == 0 || cfg.heavyConns() == cfg.conns):
		return cfg, fmt.Errorf("-skew %v of %d connections leaves no heavy or no light connection", cfg.skew, cfg.conns)
	case cfg.skew > 0 && cfg.heavyDepth() > 1<<16:
		return cfg, fmt.Errorf("-depth × -skew-factor = %d: want at most 65536", cfg.heavyDepth())
	case cfg.skew > 0 && cfg.size*cfg.heavyDepth() > 16<<20:
		return cfg, fmt.Errorf("-size × -depth × -skew-factor = %d: want at most 16 MiB in flight per connection", cfg.size*cfg.heavyDepth())
	}
	if cfg.sources < 0 {
		cfg.sources = 0
		if cfg.conns > portsPerSource {
			cfg.sources = (cfg.conns + portsPerSource - 1) / portsPerSource
		}
	}
	return cfg, nil
}

// heavyConns is the number of heavy connections: -skew of -conns, rounded to the
// nearest (0 without -skew).
func (c config) heavyConns() int {
	if c.skew <= 0 {
		return 0
	}
	return int(math.Round(c.skew * float64(c.conns)))
}

// heavyDepth is a heavy connection's pipelining depth.
func (c config) heavyDepth() int { return c.depth * c.skewFactor }

// classResult is the throughput, latency and fairness of one class of connections
// (light or heavy) in a -skew run.
type classResult struct {
	Conns        int     `json:"conns"`
	Depth        int     `json:"depth"`
	MsgsPerS     float64 `json:"msgs_per_s"`
	PerConnPerS  float64 `json:"per_conn_msgs_per_s"`
	P50Us        float64 `json:"p50_us"`
	P99Us        float64 `json:"p99_us"`
	P999Us       float64 `json:"p999_us"`
	MaxUs        float64 `json:"max_us"`
	Jain         float64 `json:"jain"`
	SlowestShare float64 `json:"slowest_share"`
}

// result is what one run reports; it is the JSON line.
type result struct {
	Tool     string            `json:"tool"`
	Date     string            `json:"date"`
	Labels   map[string]string `json:"labels,omitempty"`
	Addr     string            `json:"addr"`
	Conns    int               `json:"conns"`
	Size     int               `json:"size"`
	Depth    int               `json:"depth"`
	Sources  int               `json:"sources"`
	WarmupS  float64           `json:"warmup_s"`
	WindowS  float64           `json:"window_s"` // measured, not asked for
	Msgs     uint64            `json:"msgs"`
	MsgsPerS float64           `json:"msgs_per_s"`
	MBPerS   float64           `json:"mb_per_s"` // echoed payload, one direction, 10^6 bytes/s

	LatSamples uint64  `json:"lat_samples"`
	LatMeanUs  float64 `json:"lat_mean_us"`
	P50Us      float64 `json:"p50_us"`
	P99Us      float64 `json:"p99_us"`
	P999Us     float64 `json:"p999_us"`
	MaxUs      float64 `json:"max_us"`

	Jain         float64 `json:"jain"`
	SlowestShare float64 `json:"slowest_share"` // min per-connection count / mean
	// Connections that completed no message in the window, and of those the ones that
	// completed none since the load started: a server that starves some connections
	// shows here even when the Jain index, over many connections, hardly moves.
	Stalled  int `json:"stalled_conns"`
	Unserved int `json:"unserved_conns"`
	// With -skew: the light and heavy connections apart, and how many times a heavy
	// connection's throughput the server gave compared with a light one's (the offered
	// ratio is -skew-factor).
	Skew          float64      `json:"skew,omitempty"`
	SkewFactor    int          `json:"skew_factor,omitempty"`
	Light         *classResult `json:"light,omitempty"`
	Heavy         *classResult `json:"heavy,omitempty"`
	HeavyPerLight float64      `json:"heavy_per_light,omitempty"`
	ConnErrors    int          `json:"conn_errors"`
	FirstError    string       `json:"first_error,omitempty"`

	GenCPUS        float64 `json:"gen_cpu_s"`
	GenCPUPct      float64 `json:"gen_cpu_pct"` // of one core
	GenCPUUsPerMsg float64 `json:"gen_cpu_us_per_msg"`
	GenUserPct     float64 `json:"gen_user_pct"`
	GenReadsPerMsg float64 `json:"gen_reads_per_msg"`
	GenWritePerMsg float64 `json:"gen_writes_per_msg"`
	GenWaitsPerMsg float64 `json:"gen_epoll_waits_per_msg"`
	GenAllocs      uint64  `json:"gen_allocs"` // heap allocations during the window
	GenCPUs        string  `json:"gen_cpus"`   // affinity

	ServerPID       int     `json:"server_pid,omitempty"`
	ServerCPUS      float64 `json:"server_cpu_s,omitempty"`
	ServerUserS     float64 `json:"server_user_s,omitempty"`
	ServerSysS      float64 `json:"server_sys_s,omitempty"`
	ServerCPUPct    float64 `json:"server_cpu_pct,omitempty"` // of one core
	ServerUsPerMsg  float64 `json:"server_cpu_us_per_msg,omitempty"`
	ServerCPUs      string  `json:"server_cpus,omitempty"` // affinity
	ServerThreads   int     `json:"server_threads,omitempty"`
	ServerStatError string  `json:"server_stat_error,omitempty"`

	MachineBusyPct float64   `json:"machine_busy_pct"` // all CPUs, in % of one core
	CPUBusyPct     []float64 `json:"cpu_busy_pct"`     // per CPU
	OthersPct      float64   `json:"others_pct"`       // machine busy - server - echoload, % of one core
	ClockTicks     uint64    `json:"clk_tck"`
	NumCPU         int       `json:"num_cpu"`
	GoVersion      string    `json:"go_version"`
	Kernel         string    `json:"kernel"`
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("echoload: ")
	cfg, err := parseFlags()
	if err != nil {
		log.Fatal(err)
	}
	raiseFileLimit(cfg.conns + 64)

	g, err := newGen(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer g.close()
	if err := g.connectAll(cfg.connectTimeout); err != nil {
		g.close()
		log.Fatal(err)
	}
	var start, end window
	if err := g.run(&start, &end); err != nil {
		g.close()
		log.Fatal(err)
	}
	r := g.report(&start, &end)
	if cfg.jsonOut {
		b, err := json.Marshal(r)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(b))
	} else {
		printText(r)
	}
	if r.ConnErrors > 0 {
		log.Printf("warning: %d connection(s) failed; first: %s", r.ConnErrors, r.FirstError)
	}
	if r.ServerStatError != "" {
		log.Printf("warning: server CPU not measured: %s", r.ServerStatError)
	}
}

// raiseFileLimit lifts the soft limit on open files to the hard one if need exceeds it.
func raiseFileLimit(need int) {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) != nil || rl.Cur >= uint64(need) {
		return
	}
	rl.Cur = rl.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		log.Printf("warning: cannot raise the open-file limit: %v", err)
	}
	if rl.Cur < uint64(need) {
		log.Printf("warning: open-file limit %d is below the %d needed", rl.Cur, need)
	}
}

// report turns the run's counters and the two window samples into a result.
func (g *gen) report(start, end *window) result {
	cfg := g.cfg
	secs := float64(end.at-start.at) / 1e9
	hz := clockTicks()
	r := result{
		Tool:    "echoload",
		Date:    time.Now().UTC().Format(time.RFC3339),
		Labels:  cfg.labels,
		Addr:    cfg.addr,
		Conns:   cfg.conns,
		Size:    cfg.size,
		Depth:   cfg.depth,
		Sources: cfg.sources,
		WarmupS: cfg.warmup.Seconds(),
		WindowS: secs,

		ConnErrors: g.errs,
		ClockTicks: hz,
		NumCPU:     end.machine.ncpu,
		GoVersion:  runtime.Version(),
		Kernel:     kernel(),
		GenAllocs:  end.mallocs - start.mallocs,
		GenCPUs:    affinity(),
	}
	if g.firstErr != nil {
		r.FirstError = g.firstErr.Error()
	}

	// Per-connection completions over the window: throughput and fairness.
	all := fairness(g.conns, func(*conn) bool { return true })
	r.Msgs, r.Jain, r.SlowestShare = all.msgs, all.jain, all.slowest
	r.Stalled, r.Unserved = all.stalled, all.unserved
	msgs := float64(r.Msgs)
	perMsg := func(v float64) float64 {
		if msgs == 0 {
			return 0
		}
		return v / msgs
	}
	r.MsgsPerS = msgs / secs
	r.MBPerS = msgs * float64(cfg.size) / secs / 1e6

	h := &g.hist
	r.LatSamples = h.Count()
	r.LatMeanUs = h.Mean() / 1e3
	r.P50Us = float64(h.Quantile(0.50)) / 1e3
	r.P99Us = float64(h.Quantile(0.99)) / 1e3
	r.P999Us = float64(h.Quantile(0.999)) / 1e3
	r.MaxUs = float64(h.max) / 1e3

	if g.skewed {
		r.Skew, r.SkewFactor = cfg.skew, cfg.skewFactor
		class := func(heavy bool, h *histogram) *classResult {
			f := fairness(g.conns, func(c *conn) bool { return c.heavy == heavy })
			depth := cfg.depth
			if heavy {
				depth = cfg.heavyDepth()
			}
			cr := &classResult{
				Conns:        f.n,
				Depth:        depth,
				MsgsPerS:     float64(f.msgs) / secs,
				P50Us:        float64(h.Quantile(0.50)) / 1e3,
				P99Us:        float64(h.Quantile(0.99)) / 1e3,
				P999Us:       float64(h.Quantile(0.999)) / 1e3,
				MaxUs:        float64(h.max) / 1e3,
				Jain:         f.jain,
				SlowestShare: f.slowest,
			}
			if f.n > 0 {
				cr.PerConnPerS = cr.MsgsPerS / float64(f.n)
			}
			return cr
		}
		r.Light, r.Heavy = class(false, &g.class[0]), class(true, &g.class[1])
		if r.Light.PerConnPerS > 0 {
			r.HeavyPerLight = r.Heavy.PerConnPerS / r.Light.PerConnPerS
		}
	}

	genCPU := (end.selfUser + end.selfSys - start.selfUser - start.selfSys).Seconds()
	r.GenCPUS = genCPU
	r.GenCPUPct = 100 * genCPU / secs
	r.GenUserPct = 100 * (end.selfUser - start.selfUser).Seconds() / secs
	r.GenCPUUsPerMsg = perMsg(genCPU * 1e6)
	r.GenReadsPerMsg = perMsg(float64(end.reads - start.reads))
	r.GenWritePerMsg = perMsg(float64(end.writes - start.writes))
	r.GenWaitsPerMsg = perMsg(float64(end.waits - start.waits))

	var srvCPU float64
	if cfg.serverPID > 0 {
		r.ServerPID = cfg.serverPID
		switch {
		case start.srvErr != nil:
			r.ServerStatError = start.srvErr.Error()
		case end.srvErr != nil:
			r.ServerStatError = end.srvErr.Error()
		default:
			user := float64(end.srvUser-start.srvUser) / float64(hz)
			sys := float64(end.srvSys-start.srvSys) / float64(hz)
			srvCPU = user + sys
			r.ServerUserS, r.ServerSysS, r.ServerCPUS = user, sys, srvCPU
			r.ServerCPUPct = 100 * srvCPU / secs
			r.ServerUsPerMsg = perMsg(srvCPU * 1e6)
			r.ServerCPUs, r.ServerThreads = procStatus(cfg.serverPID)
		}
	}

	if start.macErr == nil && end.macErr == nil {
		busy := float64(end.machine.busy-start.machine.busy) / float64(hz)
		r.MachineBusyPct = 100 * busy / secs
		r.OthersPct = max(0, r.MachineBusyPct-r.GenCPUPct-r.ServerCPUPct)
		for c := 0; c < end.machine.ncpu; c++ {
			b := float64(end.machine.cpuBusy[c]-start.machine.cpuBusy[c]) / float64(hz)
			r.CPUBusyPct = append(r.CPUBusyPct, 100*b/secs)
		}
	}
	return r
}

// share is the completions of a set of connections over the window and their
// fairness: Jain's index (Σx)²/(n·Σx²) and the slowest one's count over the mean.
type share struct {
	n             int
	msgs          uint64
	jain, slowest float64
	stalled       int // connections that completed no message in the window
	unserved      int // connections that completed none since the load started
}

// fairness computes the share of the connections that in selects.
func fairness(conns []conn, in func(*conn) bool) share {
	var s share
	var sum, sumSq float64
	minCount := ^uint64(0)
	for i := range conns {
		c := &conns[i]
		if !in(c) {
			continue
		}
		x := c.done - c.atStart
		if x == 0 {
			s.stalled++
		}
		if c.done == 0 {
			s.unserved++
		}
		s.n++
		s.msgs += x
		sum += float64(x)
		sumSq += float64(x) * float64(x)
		minCount = min(minCount, x)
	}
	if sumSq > 0 {
		n := float64(s.n)
		s.jain = sum * sum / (n * sumSq)
		s.slowest = float64(minCount) / (sum / n)
	}
	return s
}

func printText(r result) {
	fmt.Printf("echoload: %s, %d conns, %d B, depth %d, window %.2fs after %.1fs warmup\n",
		r.Addr, r.Conns, r.Size, r.Depth, r.WindowS, r.WarmupS)
	fmt.Printf("  throughput  %.0f msg/s (%.2f MB/s each way), %d messages\n", r.MsgsPerS, r.MBPerS, r.Msgs)
	fmt.Printf("  latency     p50 %.1f µs  p99 %.1f µs  p99.9 %.1f µs  max %.1f µs  mean %.1f µs (%d samples)\n",
		r.P50Us, r.P99Us, r.P999Us, r.MaxUs, r.LatMeanUs, r.LatSamples)
	fmt.Printf("  fairness    Jain %.4f, slowest connection %.1f%% of the mean, %d connections stalled in the window (%d never served)\n",
		r.Jain, 100*r.SlowestShare, r.Stalled, r.Unserved)
	for _, c := range []struct {
		name string
		r    *classResult
	}{{"light", r.Light}, {"heavy", r.Heavy}} {
		if c.r == nil {
			continue
		}
		fmt.Printf("  %-5s       %d conns at depth %d: %.0f msg/s (%.0f per conn), p50 %.1f µs  p99 %.1f µs  p99.9 %.1f µs, Jain %.4f, slowest %.1f%%\n",
			c.name, c.r.Conns, c.r.Depth, c.r.MsgsPerS, c.r.PerConnPerS, c.r.P50Us, c.r.P99Us, c.r.P999Us, c.r.Jain, 100*c.r.SlowestShare)
	}
	if r.Heavy != nil {
		fmt.Printf("  skew        a heavy connection got %.1f× a light one's throughput (offered %d×)\n", r.HeavyPerLight, r.SkewFactor)
	}
	fmt.Printf("  generator   %.1f%% of a core (user %.1f%%), %.3f µs/msg, %.2f reads %.2f writes %.3f epoll_waits per msg, %d allocs, cpus %s\n",
		r.GenCPUPct, r.GenUserPct, r.GenCPUUsPerMsg, r.GenReadsPerMsg, r.GenWritePerMsg, r.GenWaitsPerMsg, r.GenAllocs, r.GenCPUs)
	if r.ServerPID > 0 && r.ServerStatError == "" {
		fmt.Printf("  server      pid %d: %.1f%% of a core (user %.2fs sys %.2fs), %.3f µs/msg, cpus %s, %d threads\n",
			r.ServerPID, r.ServerCPUPct, r.ServerUserS, r.ServerSysS, r.ServerUsPerMsg, r.ServerCPUs, r.ServerThreads)
	}
	fmt.Printf("  machine     busy %.1f%% of a core over the window, per CPU %.1f, others %.1f%%\n",
		r.MachineBusyPct, r.CPUBusyPct, r.OthersPct)
	if r.ConnErrors > 0 {
		fmt.Printf("  errors      %d connections failed; first: %s\n", r.ConnErrors, r.FirstError)
	}
}

// affinity returns the CPUs this process may run on, e.g. "1" or "0-1".
func affinity() string {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return ""
	}
	var cpus []int
	for c := 0; c < 1024; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpuList(cpus)
}

// cpuList formats CPU numbers as ranges: 0,2-3.
func cpuList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if i == j {
			fmt.Fprintf(&b, "%d", cpus[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", cpus[i], cpus[j])
		}
		i = j + 1
	}
	return b.String()
}

// procStatus returns a process's Cpus_allowed_list and Threads from /proc/PID/status.
func procStatus(pid int) (cpus string, threads int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "", 0
	}
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "Cpus_allowed_list":
			cpus = v
		case "Threads":
			threads, _ = strconv.Atoi(v)
		}
	}
	return cpus, threads
}

// kernel returns the kernel release, e.g. "6.1.0-18-amd64".
func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
