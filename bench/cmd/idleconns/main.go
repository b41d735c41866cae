// Command idleconns measures a server's memory per idle connection. It reads the
// server's VmRSS and RssAnon (/proc/PID/status) and the kernel's socket figures, then
// opens connections in steps (e.g. 10,000 then 19,000 in all), echoes one message on
// each so that every connection has been served once, waits for the server to settle
// and reads the figures again after each step. It prints, per step and for the last
// one, the server's memory growth per connection, the slope between steps (the cost of
// one more connection, without the fixed costs the first connections bring), and what
// 1,000,000 connections would cost at that slope.
//
//	idleconns -addr 127.0.0.1:7000 -pid $(pidof echo) -conns 10000,19000 -json
//
// The kernel's memory is not in the server's RSS; it is reported apart, from two
// sources: /proc/net/sockstat's TCP "mem" (pages of socket buffers) and
// /proc/meminfo's Slab (socket, inode, file and epoll structures). Both count the
// client's end of each loopback connection as well as the server's, and Slab is
// machine-wide, so the kernel figure per connection is half the growth of their sum:
// an estimate, as noisy as the machine is busy.
//
// Connections come from several 127.0.0.x source addresses (-sources), so that ports
// do not run out, and are closed with a reset (SO_LINGER 0) so that no TIME_WAIT
// sockets are left to blur the next measurement. Only loopback targets are accepted;
// the whole run is bounded by -timeout.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sample is one reading of the server's and the kernel's memory.
type sample struct {
	Conns     int     `json:"conns"`
	RSS       int64   `json:"rss_b"`
	Anon      int64   `json:"anon_b"`
	SockInuse int64   `json:"tcp_inuse"`
	SockMem   int64   `json:"tcp_mem_b"` // sockstat TCP mem, in bytes
	Slab      int64   `json:"slab_b"`
	ServerFDs int     `json:"server_fds,omitempty"`
	AtS       float64 `json:"at_s"` // seconds since the run started
}

// step is what one step of connections cost.
type step struct {
	sample
	RSSPerConn    float64 `json:"rss_per_conn_b"`     // (RSS - RSS before any) / conns
	AnonPerConn   float64 `json:"anon_per_conn_b"`    // the same for RssAnon
	RSSSlope      float64 `json:"rss_slope_b"`        // RSS growth / connections added since the last step
	AnonSlope     float64 `json:"anon_slope_b"`       // the same for RssAnon
	SockMemPer    float64 `json:"tcp_mem_per_conn_b"` // sockstat TCP mem growth / conns (both ends)
	SlabPer       float64 `json:"slab_per_conn_b"`    // Slab growth / conns (both ends, machine-wide)
	KernelPerConn float64 `json:"kernel_per_conn_b"`  // (SockMemPer + SlabPer) / 2: the server's end
	KernelSlope   float64 `json:"kernel_slope_b"`     // the same between steps
}

// report is the JSON line: the steps, and the last step's figures at the top level.
type report struct {
	Tool      string  `json:"tool"`
	Date      string  `json:"date"`
	Addr      string  `json:"addr"`
	ServerPID int     `json:"server_pid"`
	Sources   int     `json:"sources"`
	SettleS   float64 `json:"settle_s"`
	OpenS     float64 `json:"open_s"` // time taken to open and echo every connection
	Base      sample  `json:"base"`
	Steps     []step  `json:"steps"`

	Conns         int     `json:"conns"`
	RSSPerConn    float64 `json:"rss_per_conn_b"`
	AnonPerConn   float64 `json:"anon_per_conn_b"`
	RSSSlope      float64 `json:"rss_slope_b"`
	AnonSlope     float64 `json:"anon_slope_b"`
	KernelPerConn float64 `json:"kernel_per_conn_b"`
	KernelSlope   float64 `json:"kernel_slope_b"`
	// What 1,000,000 connections would take: the server's RSS as measured at the last
	// step plus the slope for the rest, and the kernel's share at its slope.
	Proj1MServerMiB float64 `json:"proj_1m_server_mib"`
	Proj1MKernelMiB float64 `json:"proj_1m_kernel_mib"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "server `host:port` (loopback only)")
	pid := flag.Int("pid", 0, "server process id (required)")
	connsFlag := flag.String("conns", "10000", "connections open after each step, increasing, comma-separated (e.g. 10000,19000)")
	sources := flag.Int("sources", 8, "source addresses 127.0.0.2 … to spread the connections over")
	settle := flag.Duration("settle", 2*time.Second, "wait after each step before reading")
	workers := flag.Int("workers", 32, "connections opened at once")
	timeout := flag.Duration("timeout", 3*time.Minute, "bound on the whole run")
	jsonOut := flag.Bool("json", false, "print one JSON line instead of text")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("idleconns: ")

	steps, err := parseSteps(*connsFlag)
	if err != nil {
		log.Fatal(err)
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("-addr must be a loopback address, got %q", *addr)
	}
	switch {
	case *pid <= 0:
		log.Fatal("-pid is required")
	case *sources < 1 || *sources > 250:
		log.Fatalf("-sources %d: want 1..250", *sources)
	case *workers < 1 || *workers > 1024:
		log.Fatalf("-workers %d: want 1..1024", *workers)
	case *settle < 0 || *settle > time.Minute:
		log.Fatalf("-settle %v: want 0..1m", *settle)
	}
	raiseFileLimit(steps[len(steps)-1] + 64)

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r, conns, err := measure(ctx, *addr, *pid, steps, *sources, *workers, *settle)
	for _, c := range conns {
		closeReset(c)
	}
	if err != nil {
		log.Fatal(err)
	}
	if *jsonOut {
		b, err := json.Marshal(r)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(b))
		return
	}
	for _, s := range r.Steps {
		fmt.Printf("%6d connections: server VmRSS %+.0f B/conn (RssAnon %+.0f), slope %.0f B/conn (RssAnon %.0f); kernel %.0f B/conn, slope %.0f (sockstat TCP mem %.0f B/conn, Slab %.0f B/conn, both ends)\n",
			s.Conns, s.RSSPerConn, s.AnonPerConn, s.RSSSlope, s.AnonSlope, s.KernelPerConn, s.KernelSlope, s.SockMemPer, s.SlabPer)
	}
	fmt.Printf("1,000,000 connections at the last slope: server %.0f MiB, kernel %.0f MiB\n", r.Proj1MServerMiB, r.Proj1MKernelMiB)
}

// parseSteps parses "10000,19000" into increasing positive counts.
func parseSteps(s string) ([]int, error) {
	var steps []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1_000_000 {
			return nil, fmt.Errorf("-conns: bad count %q (want 1..1000000)", f)
		}
		if len(steps) > 0 && n <= steps[len(steps)-1] {
			return nil, fmt.Errorf("-conns: counts must increase, got %v after %v", n, steps[len(steps)-1])
		}
		steps = append(steps, n)
	}
	if len(steps) == 0 || len(steps) > 16 {
		return nil, errors.New("-conns: want 1 to 16 counts")
	}
	return steps, nil
}

// measure opens the connections step by step and samples after each step. It returns
// the connections it opened (for the caller to close) also on error.
func measure(ctx context.Context, addr string, pid int, steps []int, sources, workers int, settle time.Duration) (report, []net.Conn, error) {
	start := time.Now()
	r := report{
		Tool: "idleconns", Date: start.UTC().Format(time.RFC3339), Addr: addr, ServerPID: pid,
		Sources: sources, SettleS: settle.Seconds(),
	}
	var err error
	if r.Base, err = read(pid, 0); err != nil {
		return r, nil, err
	}
	var conns []net.Conn
	var opening time.Duration
	prev := r.Base
	for _, n := range steps {
		t := time.Now()
		more, err := open(ctx, addr, len(conns), n-len(conns), sources, workers)
		conns = append(conns, more...)
		if err != nil {
			return r, conns, err
		}
		opening += time.Since(t)
		select {
		case <-time.After(settle):
		case <-ctx.Done():
			return r, conns, ctx.Err()
		}
		s, err := read(pid, n)
		if err != nil {
			return r, conns, err
		}
		s.AtS = time.Since(start).Seconds()
		r.Steps = append(r.Steps, derive(r.Base, prev, s))
		prev = s
	}
	r.OpenS = opening.Seconds()
	last := r.Steps[len(r.Steps)-1]
	r.Conns = last.Conns
	r.RSSPerConn, r.AnonPerConn = last.RSSPerConn, last.AnonPerConn
	r.RSSSlope, r.AnonSlope = last.RSSSlope, last.AnonSlope
	r.KernelPerConn, r.KernelSlope = last.KernelPerConn, last.KernelSlope
	const million = 1_000_000
	r.Proj1MServerMiB = (float64(last.RSS) + last.RSSSlope*float64(million-last.Conns)) / (1 << 20)
	r.Proj1MKernelMiB = last.KernelSlope * million / (1 << 20)
	return r, conns, nil
}

// derive computes a step's figures from the base sample, the previous one and its own.
func derive(base, prev, s sample) step {
	n := float64(s.Conns)
	added := float64(s.Conns - prev.Conns)
	kernel := func(a, b sample) float64 { return float64((b.SockMem-a.SockMem)+(b.Slab-a.Slab)) / 2 }
	return step{
		sample:        s,
		RSSPerConn:    float64(s.RSS-base.RSS) / n,
		AnonPerConn:   float64(s.Anon-base.Anon) / n,
		RSSSlope:      float64(s.RSS-prev.RSS) / added,
		AnonSlope:     float64(s.Anon-prev.Anon) / added,
		SockMemPer:    float64(s.SockMem-base.SockMem) / n,
		SlabPer:       float64(s.Slab-base.Slab) / n,
		KernelPerConn: kernel(base, s) / n,
		KernelSlope:   kernel(prev, s) / added,
	}
}

// open opens n connections (numbered from first, which picks their source address),
// each echoing one message, with at most workers at a time.
func open(ctx context.Context, addr string, first, n, sources, workers int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	jobs := make(chan int)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		openErr error
	)
	fail := func(err error) {
		mu.Lock()
		if openErr == nil {
			openErr = err
		}
		mu.Unlock()
	}
	for range min(workers, n) {
		wg.Go(func() {
			buf := make([]byte, 4)
			for i := range jobs {
				c, err := dialEcho(ctx, addr, first+i, sources, buf)
				if err != nil {
					fail(err)
					continue
				}
				conns[i] = c
			}
		})
	}
feed:
	for i := range n {
		mu.Lock()
		failed := openErr != nil
		mu.Unlock()
		if failed {
			break
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			fail(fmt.Errorf("gave up after %d connections: %w", first+i, ctx.Err()))
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	opened := conns[:0]
	for _, c := range conns {
		if c != nil {
			opened = append(opened, c)
		}
	}
	return opened, openErr
}

// dialEcho opens connection i from source 127.0.0.(2 + i%sources) and echoes 4 bytes.
func dialEcho(ctx context.Context, addr string, i, sources int, buf []byte) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%sources))}, Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("connection %d: %w", i, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		closeReset(c)
		return nil, fmt.Errorf("connection %d: write: %w", i, err)
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		closeReset(c)
		return nil, fmt.Errorf("connection %d: echo: %w", i, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// closeReset closes c with a reset, leaving no TIME_WAIT socket behind.
func closeReset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// read samples the server's memory and the kernel's socket figures.
func read(pid, conns int) (sample, error) {
	s := sample{Conns: conns}
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s, fmt.Errorf("server: %w", err)
	}
	kv := fields(string(st))
	s.RSS, s.Anon = kv["VmRSS"]*1024, kv["RssAnon"]*1024
	if ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd"); err == nil {
		s.ServerFDs = len(ents)
	}
	if mi, err := os.ReadFile("/proc/meminfo"); err == nil {
		s.Slab = fields(string(mi))["Slab"] * 1024
	}
	if b, err := os.ReadFile("/proc/net/sockstat"); err == nil {
		s.SockInuse, s.SockMem = sockstat(string(b))
		s.SockMem *= int64(os.Getpagesize())
	}
	return s, nil
}

// fields parses "Key:   123 kB" lines into Key → 123.
func fields(text string) map[string]int64 {
	m := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			m[k] = n
		}
	}
	return m
}

// sockstat returns the TCP line's "inuse" and "mem" (pages) from /proc/net/sockstat.
func sockstat(text string) (inuse, memPages int64) {
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, "TCP:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		for i := 0; i+1 < len(f); i += 2 {
			v, _ := strconv.ParseInt(f[i+1], 10, 64)
			switch f[i] {
			case "inuse":
				inuse = v
			case "mem":
				memPages = v
			}
		}
	}
	return inuse, memPages
}

// raiseFileLimit lifts the soft limit on open files to the hard one if need exceeds it.
func raiseFileLimit(need int) {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil || uint64(rl.Cur) >= uint64(need) {
		return
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Printf("warning: cannot raise the open-file limit: %v", err)
	}
	if uint64(rl.Cur) < uint64(need) {
		log.Printf("warning: open-file limit %d is below the %d needed", rl.Cur, need)
	}
}
