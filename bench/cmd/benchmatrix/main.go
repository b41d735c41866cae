// Command benchmatrix runs the scenarios of issue #8 against coio and its peers and
// writes the results: one JSON line per run, a Markdown report and PNG charts, into
// a new directory under -out.
//
//	benchmatrix -bin DIR -preset short            # what `make bench` runs, ~3 min
//	benchmatrix -bin DIR -preset full             # the whole matrix, ~75 min
//	benchmatrix -bin DIR -preset short -dry-run   # the plan and its time
//	benchmatrix -report RUNDIR                    # redo the report and charts
//
// The scenarios:
//
//	echo  (a) TCP echo through echoload: 64 B and 4 KiB, 100 and 1,000 connections,
//	      depth 1 and 16; server on CPU 0 (GOMAXPROCS=1), echoload on CPU 1
//	skew  (b) the same with 10% heavy connections (20× the depth): the light ones'
//	      throughput and p99; both unpinned, GOMAXPROCS=2, two runners/loops
//	idle  (c) memory per idle connection at 10,000 and 19,000 connections
//	      (idleconns), with the kernel's socket memory apart and 1,000,000 projected
//	http  (d) HTTP/1.1 plaintext with wrk -t1 on CPU 1, server on CPU 0
//
// After the matrix, coio runs again against the best peer of each echo, skew and
// HTTP configuration in -pairs interleaved pairs (coio then the peer, then the peer
// then coio), since one run per server ranks nothing closer than 20–30% on a machine
// whose speed drifts between minutes. The summary ranks by their median ratio.
//
// -bin names the directory holding the servers and generators
// (bench/scripts/matrix.sh builds them there): coio-echo, coio-echo-coro, coio-http,
// gonet, gnet, nbio, netpoll, asio, asio-uring, nethttp, fasthttp, gnethttp,
// echoload and idleconns; wrk comes from PATH. A server that is missing or fails to
// start, or a generator that fails, becomes a row with an "error" and the matrix goes
// on. Every run is bounded in time, every target is on 127.0.0.1.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coionet/coio/bench/internal/results"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchmatrix: ")
	var (
		presetName = flag.String("preset", "short", "short (every scenario, a subset of configurations, then pairs: ~3 min) or full (~75 min)")
		binDir     = flag.String("bin", "", "directory with the built servers and generators")
		outDir     = flag.String("out", "results", "directory in which the run's directory matrix-<UTC date> is made")
		scenarios  = flag.String("scenarios", "echo,skew,idle,http", "scenarios to run")
		servers    = flag.String("servers", strings.Join(defaultEcho, ","), "echo servers (scenarios echo, skew, idle)")
		httpList   = flag.String("http-servers", strings.Join(defaultHTTP, ","), "HTTP servers (scenario http)")
		warmup     = flag.Duration("warmup", 0, "override the preset's warmup")
		window     = flag.Duration("window", 0, "override the preset's measured window")
		reps       = flag.Int("reps", 0, "override the preset's repetitions per server")
		idleSteps  = flag.String("idle-conns", "", "override the preset's idle steps, e.g. 10000,19000")
		port       = flag.Int("port", 17300, "first TCP port; each run takes the next")
		commit     = flag.String("commit", "unknown", "coio commit the servers were built from")
		quietPct   = flag.Float64("quiet-pct", 10, "machine busy % of one core above which it is not quiet before a run")
		timeout    = flag.Duration("timeout", 3*time.Hour, "bound on the whole matrix")
		pairs      = flag.Int("pairs", -1, "pairs of coio against the best peer per configuration after the matrix (-1: the preset's, 0: none)")
		dryRun     = flag.Bool("dry-run", false, "print the plan and its estimated time, run nothing")
		reportDir  = flag.String("report", "", "only (re)write results.md and the charts of this run directory from its results.jsonl")
	)
	flag.Parse()

	if *reportDir != "" {
		if err := report(*reportDir); err != nil {
			log.Fatal(err)
		}
		return
	}
	p, ok := presets[*presetName]
	if !ok {
		log.Fatalf("-preset %q: want short or full", *presetName)
	}
	if *warmup > 0 {
		p.warmup = *warmup
	}
	if *window > 0 {
		p.window = *window
	}
	if *reps > 0 {
		p.reps = *reps
	}
	if *pairs >= 0 {
		p.pairs = *pairs
	}
	if *idleSteps != "" {
		steps, err := parseSteps(*idleSteps)
		if err != nil {
			log.Fatal(err)
		}
		p.idle = steps
	}
	scs := splitList(*scenarios)
	for _, s := range scs {
		if _, ok := results.Charts[s]; !ok {
			log.Fatalf("-scenarios: unknown scenario %q (echo, skew, idle, http)", s)
		}
	}
	echoList, httpServersList := splitList(*servers), splitList(*httpList)
	for _, s := range echoList {
		if _, ok := echoServers[s]; !ok {
			log.Fatalf("-servers: unknown echo server %q (known: %s)", s, strings.Join(defaultEcho, " "))
		}
	}
	for _, s := range httpServersList {
		if _, ok := httpServers[s]; !ok {
			log.Fatalf("-http-servers: unknown HTTP server %q (known: %s)", s, strings.Join(defaultHTTP, " "))
		}
	}
	jobs := plan(p, scs, echoList, httpServersList)
	var total time.Duration
	for _, j := range jobs {
		total += estimate(p, j)
	}
	later := pairPlan(p, scs, echoList, httpServersList)
	for _, j := range later {
		total += estimate(p, j)
	}
	if *dryRun {
		for i, j := range append(jobs, later...) {
			fmt.Printf("%3d  %s  (~%v)\n", i+1, j, estimate(p, j).Round(100*time.Millisecond))
		}
		fmt.Printf("%d runs, about %v\n", len(jobs)+len(later), total.Round(time.Second))
		return
	}
	if *binDir == "" {
		log.Fatal("-bin is required")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		log.Fatal("taskset (util-linux) is missing")
	}
	bin, err := filepath.Abs(*binDir)
	if err != nil {
		log.Fatal(err)
	}
	raiseFileLimit()

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, *timeout)
	defer cancelTimeout()

	stamp := time.Now().UTC().Format("20060102-150405")
	dir := filepath.Join(*outDir, "matrix-"+stamp)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	d := &driver{
		p: p, bin: bin, dir: dir, port: *port, commit: *commit, quietPct: *quietPct,
		machine: machine(), started: time.Now(), pairA: pairA,
	}
	log.Printf("%d runs, about %v; results in %s", len(jobs)+len(later), total.Round(time.Second), dir)
	if err := d.runAll(ctx, jobs); err != nil {
		log.Print(err)
	}
	if err := report(dir); err != nil {
		log.Fatal(err)
	}
	log.Printf("done in %v: %s", time.Since(d.started).Round(time.Second), dir)
	if ctx.Err() != nil {
		os.Exit(1)
	}
}

// report writes results.md and the charts of a run directory from its results.jsonl.
func report(dir string) error {
	f, err := os.Open(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		return err
	}
	rows, err := results.Read(f)
	f.Close()
	if err != nil {
		return err
	}
	var md bytes.Buffer
	results.WriteMarkdown(&md, rows)
	if err := os.WriteFile(filepath.Join(dir, "results.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	if _, err := results.WriteCharts(dir, rows); err != nil {
		return err
	}
	os.Stdout.Write(md.Bytes())
	return nil
}

// raiseFileLimit lifts the soft limit on open files to the hard one. Set explicitly,
// it is inherited by the servers (Go restores the original soft limit in children
// only when the program has not set it), which need 19,000 descriptors in the idle
// scenario.
func raiseFileLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Printf("warning: cannot raise the open-file limit: %v", err)
	}
}

// driver runs the jobs and writes their rows.
type driver struct {
	p        preset
	bin      string
	dir      string
	port     int
	commit   string
	quietPct float64
	machine  results.Machine
	started  time.Time
	pairA    string // the server the pairs after the matrix are for; "" for none
	run      int
	out      *os.File
	rows     []results.Row // the matrix's rows so far, to choose the pairs' peers
}

// pairA is the server whose figures the pairs after the matrix rank against the
// best peer's: examples/echo as it comes.
const pairA = "coio"

// runAll runs the jobs, then the pairs of d.pairA against the best peer of each
// configuration (none when the preset asks for none).
func (d *driver) runAll(ctx context.Context, jobs []job) error {
	f, err := os.Create(filepath.Join(d.dir, "results.jsonl"))
	if err != nil {
		return err
	}
	defer f.Close()
	d.out = f
	if err := d.runJobs(ctx, jobs, 0); err != nil {
		return err
	}
	if d.pairA == "" || d.p.pairs == 0 {
		return nil
	}
	later := pairJobs(d.p, d.pairA, d.rows)
	if len(later) > 0 {
		log.Printf("%d runs of %s against the best peers, in pairs", len(later), d.pairA)
	}
	return d.runJobs(ctx, later, len(jobs))
}

// runJobs runs jobs and writes their rows; done is how many ran before them.
func (d *driver) runJobs(ctx context.Context, jobs []job, done int) error {
	for i, j := range jobs {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped after %d of %d runs: %w", done+i, done+len(jobs), context.Cause(ctx))
		}
		d.run++
		row := d.runJob(ctx, j)
		b, err := json.Marshal(row)
		if err != nil {
			return err
		}
		if _, err := d.out.Write(append(b, '\n')); err != nil {
			return err
		}
		var r results.Row
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		d.rows = append(d.rows, r)
		progress(done+i+1, done+len(jobs), j, row)
	}
	return nil
}

// progress prints one line per run.
func progress(i, n int, j job, row map[string]any) {
	var b strings.Builder
	fmt.Fprintf(&b, "[%d/%d] %s: ", i, n, j)
	if e, ok := row["error"].(string); ok {
		fmt.Fprintf(&b, "FAILED: %.200s", e)
	} else {
		switch j.scenario {
		case results.Idle:
			fmt.Fprintf(&b, "%v B/conn RSS, slope %v", num(row["rss_per_conn_b"]), num(row["rss_slope_b"]))
		default:
			fmt.Fprintf(&b, "%v msgs/s, p99 %v µs, server %v µs/msg", num(row["msgs_per_s"]), num(row["p99_us"]), num(row["server_cpu_us_per_msg"]))
			if l, ok := row["light"].(map[string]any); ok {
				fmt.Fprintf(&b, ", light p99 %v µs", num(l["p99_us"]))
			}
		}
	}
	fmt.Fprintln(os.Stderr, b.String())
}

// num rounds a JSON number for the progress line.
func num(v any) string {
	var f float64
	switch x := v.(type) {
	case json.Number:
		f, _ = x.Float64()
	case float64:
		f = x
	default:
		return "?"
	}
	if math.Abs(f) >= 100 {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

// runJob runs one job and returns its row, with an "error" when it failed.
func (d *driver) runJob(ctx context.Context, j job) map[string]any {
	l := oneCore
	sp := echoServers[j.server]
	if j.scenario == results.Skew {
		l = twoCores
	}
	if j.scenario == results.HTTP {
		sp = httpServers[j.server]
	}
	row := d.baseRow(j, j.server, l)
	fail := func(err error) map[string]any {
		row["error"] = err.Error()
		return row
	}

	quiet, busy := d.quiet()
	row["quiet"], row["busy_before_pct"] = quiet, math.Round(busy)

	port := d.port + d.run
	srv, err := startServer(d.bin, sp, port, l)
	if err != nil {
		return fail(err)
	}
	row["server_cmd"] = srv.cmdline
	defer srv.stop()

	var got map[string]any
	switch j.scenario {
	case results.Echo, results.Skew:
		got, err = d.echo(ctx, j, srv, l)
	case results.Idle:
		got, err = d.idle(ctx, j, srv)
	case results.HTTP:
		got, err = d.http(ctx, j, srv)
	}
	if err != nil {
		if dead, why := srv.exited(); dead {
			err = fmt.Errorf("%w; %s", err, why)
		}
		return fail(err)
	}
	merge(row, got)
	return row
}

// baseRow is the matrix's own fields of a run of server.
func (d *driver) baseRow(j job, server string, l layout) map[string]any {
	row := map[string]any{
		"scenario": j.scenario, "server": server, "rep": j.rep, "run": d.run,
		"preset": d.p.name, "layout": l.name, "commit": d.commit, "machine": d.machine,
		"go_version": runtime.Version(), "date": time.Now().UTC().Format(time.RFC3339),
		"conns": j.conns, "size": j.size, "depth": j.depth,
		"warmup_s": d.p.warmup.Seconds(), "window_s": d.p.window.Seconds(),
	}
	if j.pair > 0 {
		row["pair"], row["pair_a"], row["pair_b"] = j.pair, j.a, j.b
	}
	return row
}

// merge adds a generator's figures to a row; its own date, window and connections
// replace the matrix's, the rest of the matrix's fields stand.
func merge(row, got map[string]any) {
	for k, v := range got {
		if _, ours := row[k]; !ours || k == "date" || k == "window_s" || k == "warmup_s" || k == "conns" {
			row[k] = v
		}
	}
}

// quiet samples the machine until it is quiet (at most quietTries times).
func (d *driver) quiet() (string, float64) {
	busy := 0.0
	for range max(1, d.p.quietTries) {
		busy = busyPct(d.p.quiet)
		if busy <= d.quietPct {
			return "yes", busy
		}
	}
	return "no", busy
}

// decode parses the last JSON object line of a tool's output.
func decode(out []byte) (map[string]any, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, "{") {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("bad JSON from the generator: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("no JSON in the generator's output: %.300q", out)
}

// echo runs echoload against the server (scenarios echo and skew).
func (d *driver) echo(ctx context.Context, j job, srv *server, l layout) (map[string]any, error) {
	args := []string{filepath.Join(d.bin, "echoload"),
		"-addr", fmt.Sprintf("127.0.0.1:%d", srv.port),
		"-conns", strconv.Itoa(j.conns), "-size", strconv.Itoa(j.size), "-depth", strconv.Itoa(j.depth),
		"-warmup", d.p.warmup.String(), "-duration", d.p.window.String(),
		"-server-pid", strconv.Itoa(srv.pid), "-json"}
	if j.scenario == results.Skew {
		args = append(args, "-skew", "0.1", "-skew-factor", "20")
	}
	ctx, cancel := context.WithTimeout(ctx, d.p.warmup+d.p.window+time.Minute)
	defer cancel()
	out, _, err := runTool(ctx, pinned(l.genCPU, args...))
	if err != nil {
		return nil, err
	}
	return decode(out)
}

// idle runs idleconns against the server (scenario idle).
func (d *driver) idle(ctx context.Context, j job, srv *server) (map[string]any, error) {
	steps := make([]string, len(j.steps))
	for i, n := range j.steps {
		steps[i] = strconv.Itoa(n)
	}
	bound := 3 * time.Minute
	args := []string{filepath.Join(d.bin, "idleconns"),
		"-addr", fmt.Sprintf("127.0.0.1:%d", srv.port), "-pid", strconv.Itoa(srv.pid),
		"-conns", strings.Join(steps, ","), "-settle", d.p.idleSettle.String(),
		"-timeout", bound.String(), "-json"}
	ctx, cancel := context.WithTimeout(ctx, bound+30*time.Second)
	defer cancel()
	out, _, err := runTool(ctx, pinned(oneCore.genCPU, args...))
	if err != nil {
		return nil, err
	}
	return decode(out)
}

// wrkScript makes wrk print its summary as one JSON line (latencies in µs).
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"lat_mean_us":%.3f,"max_us":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
`

// wrkResult is what the script prints.
type wrkResult struct {
	Requests   int64   `json:"requests"`
	DurationUs int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	ErrConnect int64   `json:"errors_connect"`
	ErrRead    int64   `json:"errors_read"`
	ErrWrite   int64   `json:"errors_write"`
	ErrStatus  int64   `json:"errors_status"`
	ErrTimeout int64   `json:"errors_timeout"`
	LatMeanUs  float64 `json:"lat_mean_us"`
	MaxUs      float64 `json:"max_us"`
	P50Us      float64 `json:"p50_us"`
	P99Us      float64 `json:"p99_us"`
	P999Us     float64 `json:"p999_us"`
}

// http runs wrk against the server (scenario http): a warmup run, then the measured
// one, with the server's CPU time and the machine's busy time read around it and
// wrk's own from its rusage.
func (d *driver) http(ctx context.Context, j job, srv *server) (map[string]any, error) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return nil, errors.New("wrk is not installed (bench/scripts/matrix.sh installs it)")
	}
	script := filepath.Join(d.dir, ".wrk-report.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return nil, err
	}
	defer os.Remove(script)
	url := fmt.Sprintf("http://127.0.0.1:%d/", srv.port)
	base := []string{wrk, "-t1", "-c" + strconv.Itoa(j.conns)}
	wctx, cancel := context.WithTimeout(ctx, d.p.warmup+d.p.window+time.Minute)
	defer cancel()
	if _, _, err := runTool(wctx, pinned(oneCore.genCPU, append(base, "-d"+strconv.Itoa(wrkSeconds(d.p.warmup))+"s", url)...)); err != nil {
		return nil, fmt.Errorf("warmup: %w", err)
	}

	u0, s0, err := procCPU(srv.pid)
	if err != nil {
		return nil, err
	}
	b0, _ := busyTicks()
	t0 := time.Now()
	out, ru, err := runTool(wctx, pinned(oneCore.genCPU, append(base, "-d"+strconv.Itoa(wrkSeconds(d.p.window))+"s", "-s", script, url)...))
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(t0).Seconds()
	u1, s1, err := procCPU(srv.pid)
	if err != nil {
		return nil, err
	}
	b1, _ := busyTicks()

	m, err := decode(out)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(m)
	var w wrkResult
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, err
	}
	if w.Requests == 0 || w.DurationUs <= 0 {
		return nil, fmt.Errorf("wrk completed no request: %s", raw)
	}
	secs := float64(w.DurationUs) / 1e6
	srvCPU := (u1 - u0) + (s1 - s0)
	genCPU := 0.0
	if ru != nil {
		genCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	machineBusy := 100 * float64(b1-b0) / clkTck / elapsed
	res := map[string]any{
		"tool": "wrk", "threads": 1, "conns": j.conns, "window_s": secs,
		"requests": w.Requests, "msgs": w.Requests, "msgs_per_s": float64(w.Requests) / secs,
		"mb_per_s":    float64(w.Bytes) / secs / 1e6,
		"lat_mean_us": w.LatMeanUs, "p50_us": w.P50Us, "p99_us": w.P99Us, "p999_us": w.P999Us, "max_us": w.MaxUs,
		"http_errors": w.ErrConnect + w.ErrRead + w.ErrWrite + w.ErrStatus + w.ErrTimeout,
		"wrk_errors": map[string]int64{"connect": w.ErrConnect, "read": w.ErrRead, "write": w.ErrWrite,
			"status": w.ErrStatus, "timeout": w.ErrTimeout},
		"server_pid": srv.pid, "server_user_s": u1 - u0, "server_sys_s": s1 - s0, "server_cpu_s": srvCPU,
		"server_cpu_pct":        100 * srvCPU / elapsed,
		"server_cpu_us_per_msg": srvCPU * 1e6 / float64(w.Requests),
		"gen_cpu_s":             genCPU, "gen_cpu_pct": 100 * genCPU / elapsed,
		"gen_cpu_us_per_msg": genCPU * 1e6 / float64(w.Requests),
		"machine_busy_pct":   machineBusy,
		"others_pct":         max(0, machineBusy-100*(srvCPU+genCPU)/elapsed),
	}
	return res, nil
}
