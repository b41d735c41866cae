// Command idleconns measures a server's memory per idle connection: it reads the
// server's VmRSS and RssAnon, opens N connections to it (from several 127.0.0.x source
// addresses, so that ports do not run out), echoes one message on each so that every
// connection has been served once, waits for the server to settle, reads its memory
// again and prints the difference per connection. The kernel's socket memory is not in
// the server's RSS; /proc/net/sockstat's figures are printed beside it.
//
//	idleconns -addr 127.0.0.1:7000 -pid $(pidof echo) -conns 10000
//
// Only loopback addresses are accepted. Raise the open-file limit first (prlimit).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "server address (loopback only)")
	pid := flag.Int("pid", 0, "server process id (required)")
	conns := flag.Int("conns", 10000, "connections to open")
	sources := flag.Int("sources", 8, "source addresses 127.0.0.2 … to spread the connections over")
	settle := flag.Duration("settle", 2*time.Second, "wait before the second reading")
	flag.Parse()
	log.SetFlags(0)
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("idleconns: -addr must be a loopback address, got %q", *addr)
	}
	if *pid <= 0 {
		log.Fatal("idleconns: -pid is required")
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)

	rss0, anon0 := memory(*pid)
	sock0 := sockstat()
	cs := make([]net.Conn, 0, *conns)
	msg := []byte("ping")
	buf := make([]byte, 4)
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; i < *conns; i++ {
		if time.Now().After(deadline) {
			log.Fatalf("idleconns: gave up after %d connections (2 minutes)", i)
		}
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%*sources))}
		d := net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp4", *addr)
		if err != nil {
			log.Fatalf("idleconns: connection %d: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(msg); err != nil {
			log.Fatalf("idleconns: write %d: %v", i, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			log.Fatalf("idleconns: echo %d: %v", i, err)
		}
		cs = append(cs, c)
	}
	time.Sleep(*settle)
	rss1, anon1 := memory(*pid)
	sock1 := sockstat()
	n := float64(len(cs))
	fmt.Printf("connections %d: server VmRSS %+.0f B/conn (RssAnon %+.0f B/conn); kernel TCP memory %+.0f pages for all (%.2f KiB/conn), sockets in use %d -> %d\n",
		len(cs), float64(rss1-rss0)/n, float64(anon1-anon0)/n,
		float64(sock1.mem-sock0.mem), float64(sock1.mem-sock0.mem)*4096/1024/n, sock0.inuse, sock1.inuse)
	fmt.Printf(`{"conns":%d,"rss_per_conn":%.0f,"anon_per_conn":%.0f,"kernel_tcp_pages":%d}`+"\n",
		len(cs), float64(rss1-rss0)/n, float64(anon1-anon0)/n, sock1.mem-sock0.mem)
	for _, c := range cs {
		c.Close()
	}
}

// memory returns the VmRSS and RssAnon of pid, in bytes.
func memory(pid int) (rss, anon int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = v * 1024
		case "RssAnon:":
			anon = v * 1024
		}
	}
	return rss, anon
}

type sock struct{ inuse, mem int64 }

// sockstat reads the TCP line of /proc/net/sockstat: sockets in use and memory pages.
func sockstat() sock {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return sock{}
	}
	var s sock
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "TCP:") {
			continue
		}
		f := strings.Fields(line)
		for i := 1; i+1 < len(f); i += 2 {
			v, _ := strconv.ParseInt(f[i+1], 10, 64)
			switch f[i] {
			case "inuse":
				s.inuse = v
			case "mem":
				s.mem = v
			}
		}
	}
	return s
}
