package main

import (
	"slices"
	"testing"
)

func TestParseSteps(t *testing.T) {
	if s, err := parseSteps("10000,19000"); err != nil || !slices.Equal(s, []int{10000, 19000}) {
		t.Errorf("parseSteps = %v, %v", s, err)
	}
	for _, bad := range []string{"", "19000,10000", "5,5", "x", "-1"} {
		if _, err := parseSteps(bad); err == nil {
			t.Errorf("parseSteps(%q) accepted", bad)
		}
	}
}

func TestDerive(t *testing.T) {
	base := sample{RSS: 1000, Anon: 500, SockMem: 0, Slab: 10000}
	s1 := sample{Conns: 10, RSS: 2000, Anon: 1500, SockMem: 4096, Slab: 10000 + 2*10*1000}
	s2 := sample{Conns: 20, RSS: 2500, Anon: 1800, SockMem: 4096, Slab: 10000 + 2*20*1000}
	a := derive(base, base, s1)
	if a.RSSPerConn != 100 || a.RSSSlope != 100 || a.AnonPerConn != 100 || a.SockMemPer != 409.6 || a.SlabPer != 2000 {
		t.Errorf("first step: %+v", a)
	}
	if a.KernelPerConn != (409.6+2000)/2 {
		t.Errorf("kernel per conn %v", a.KernelPerConn)
	}
	b := derive(base, s1, s2)
	if b.RSSPerConn != 75 || b.RSSSlope != 50 || b.AnonSlope != 30 || b.KernelSlope != 1000 {
		t.Errorf("second step: %+v", b)
	}
}

func TestProcParsers(t *testing.T) {
	kv := fields("VmRSS:\t  5120 kB\nRssAnon:\t1024 kB\nName:\techo\n")
	if kv["VmRSS"] != 5120 || kv["RssAnon"] != 1024 {
		t.Errorf("fields = %v", kv)
	}
	inuse, mem := sockstat("sockets: used 11\nTCP: inuse 7 orphan 0 tw 3 alloc 9 mem 46\nUDP: inuse 0 mem 0\n")
	if inuse != 7 || mem != 46 {
		t.Errorf("sockstat = %d, %d", inuse, mem)
	}
}
