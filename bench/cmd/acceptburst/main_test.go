package main

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

func TestCheckTarget(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:7000", "[::1]:7000", "127.0.0.2:1"} {
		if err := checkTarget(ok); err != nil {
			t.Errorf("checkTarget(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.1:7000", "example.com:80", "localhost:7000", "127.0.0.1"} {
		if err := checkTarget(bad); err == nil {
			t.Errorf("checkTarget(%q) accepted", bad)
		}
	}
}

func TestQuantile(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if q := quantile(s, 0.5); q != 5 {
		t.Errorf("p50 = %v", q)
	}
	if q := quantile(s, 0.9); q != 9 {
		t.Errorf("p90 = %v", q)
	}
	if q := quantile(s, 0.99); q != 10 {
		t.Errorf("p99 = %v", q)
	}
}

// A burst against a plain echo server: every connection served, none failed; then
// against an address nobody listens on: every connection failed, reported.
func TestBurst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})
	r := burst(ln.Addr().String(), 50, 5*time.Second)
	ln.Close()
	wg.Wait()
	if r.Conns != 50 || r.Failed != 0 || r.FirstErr != "" || r.MaxMs <= 0 || r.P50Ms > r.P99Ms || r.P99Ms > r.MaxMs {
		t.Fatalf("burst against an echo server: %+v", r)
	}

	// Failures count as the whole timeout, never as served within a second, even
	// with a timeout under a second.
	r = burst(ln.Addr().String(), 5, 500*time.Millisecond)
	if r.Failed != 5 || r.FirstErr == "" || r.WithinSec != 0 || r.MaxMs != 500 {
		t.Fatalf("burst against a closed port: %+v", r)
	}
}
