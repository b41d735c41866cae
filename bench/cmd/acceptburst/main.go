// Command acceptburst measures how fast an echo server takes on a burst of new
// connections: it dials -conns connections at once, each writes one byte and waits
// for its echo, and it reports how long after the burst began each connection got
// that echo (p50, p90, p99, max), how many had it within a second, and how many
// failed.
//
//	bench/scripts/accept-burst.sh --servers "coio gnet asio"
//
// runs it against servers already busy with echoload's 1,000 connections: a server
// that accepts one connection per round of a long queue serves the burst's last
// connections seconds late, and connections whose SYN the kernel dropped from a full
// listen queue wait out its 1 s retransmission (see the script's report).
//
// Only loopback addresses are accepted as targets, and every connection is bounded
// by -timeout.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// result is one burst's report.
type result struct {
	Conns     int     `json:"conns"`
	Failed    int     `json:"failed"`
	FirstErr  string  `json:"first_error,omitempty"`
	P50Ms     float64 `json:"p50_ms"`
	P90Ms     float64 `json:"p90_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	WithinSec int     `json:"served_within_1s"`
	TotalMs   float64 `json:"total_ms"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "echo server address (loopback only)")
	conns := flag.Int("conns", 1000, "connections dialed at once (1..10000)")
	timeout := flag.Duration("timeout", 10*time.Second, "bound on each connection's dial, write and read")
	asJSON := flag.Bool("json", false, "print the report as JSON")
	flag.Parse()
	if err := checkTarget(*addr); err != nil {
		log.Fatalf("acceptburst: %v", err)
	}
	if *conns < 1 || *conns > 10000 {
		log.Fatalf("acceptburst: -conns %d: want 1..10000", *conns)
	}
	if *timeout <= 0 || *timeout > time.Minute {
		log.Fatalf("acceptburst: -timeout %v: want more than 0, at most 1m", *timeout)
	}
	r := burst(*addr, *conns, *timeout)
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(r)
	} else {
		fmt.Printf("conns %d failed %d p50 %.1f ms p90 %.1f ms p99 %.1f ms max %.1f ms served within 1 s %d total %.0f ms\n",
			r.Conns, r.Failed, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs, r.WithinSec, r.TotalMs)
		if r.FirstErr != "" {
			fmt.Printf("first error: %s\n", r.FirstErr)
		}
	}
	if r.Failed > 0 {
		os.Exit(1)
	}
}

// checkTarget accepts only a loopback IP address with a port.
func checkTarget(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %v", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: only loopback IP addresses are targets", addr)
	}
	return nil
}

// burst dials n connections at once to addr and times each one's first echo from
// the burst's start; a connection that fails counts as taking the whole timeout in
// the percentiles, and never as served within a second.
func burst(addr string, n int, timeout time.Duration) result {
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			lat[i], errs[i] = echoOnce(addr, start, timeout)
		})
	}
	wg.Wait()
	total := time.Since(start)
	r := result{Conns: n, TotalMs: ms(total)}
	for i, err := range errs {
		switch {
		case err != nil:
			if r.Failed == 0 {
				r.FirstErr = err.Error()
			}
			r.Failed++
			lat[i] = timeout
		case lat[i] <= time.Second:
			r.WithinSec++
		}
	}
	slices.Sort(lat)
	r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs = ms(quantile(lat, 0.5)), ms(quantile(lat, 0.9)), ms(quantile(lat, 0.99)), ms(lat[n-1])
	return r
}

// echoOnce connects, writes a byte and reads its echo: the time from start to the
// echo.
func echoOnce(addr string, start time.Time, timeout time.Duration) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	b := []byte{'x'}
	if _, err := c.Write(b); err != nil {
		return 0, err
	}
	if _, err := c.Read(b); err != nil {
		return 0, err
	}
	if b[0] != 'x' {
		return 0, errors.New("the echo differs from the byte sent")
	}
	return time.Since(start), nil
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
