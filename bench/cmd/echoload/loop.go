//go:build linux

package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// maxIO bounds the reads or writes done for one connection per turn; a connection that
// still has work after that goes on the ready list and is served on the next turn.
const maxIO = 16

// conn is the state of one client connection. Every connection always has depth
// messages in flight: a completed message is replaced at once by a new one, so the
// send times form a full ring whose oldest entry (head) is the next to complete.
type conn struct {
	fd      int
	rx      int    // bytes of the oldest in-flight message received so far
	toSend  int    // bytes queued but not yet written
	done    uint64 // messages completed since the load started
	atStart uint64 // done when the measured window opened
	ring    int    // where this connection's send-time ring starts in gen.sendAt
	depth   int    // messages in flight: the ring's length
	head    int    // index in the send-time ring of the oldest message
	state   uint8
	ready   bool // on the ready list
	heavy   bool // one of the -skew connections, with a deeper pipeline
}

const (
	stConnecting uint8 = iota
	stOpen
	stDead
)

// gen is the load generator: C connections served by one goroutine on one OS thread
// through an edge-triggered epoll instance.
type gen struct {
	cfg     config
	epfd    int
	conns   []conn
	sendAt  []int64 // conns[i]'s ring is sendAt[c.ring : c.ring+c.depth]; ns since base
	payload []byte  // (largest depth)*size bytes: what any connection writes
	rbuf    []byte  // where every read lands; the echoed bytes are counted, not kept
	events  []unix.EpollEvent
	readyQ  []int32 // connections with work left over from the last turn
	base    time.Time

	measuring bool
	hist      histogram
	// With -skew, the light and the heavy connections' latencies are also recorded
	// apart (class[0] light, class[1] heavy).
	class  [2]histogram
	skewed bool

	// Counters for the whole run; snapshots at the window's edges give the window's.
	reads, writes, waits uint64
	errs                 int
	firstErr             error
}

// readBufSize is the size of the buffer every read lands in, for connections that
// have at most inFlight bytes in flight: larger than that, so that a read that takes
// everything there is returns less than the buffer, which says the socket is empty
// and spares the read that would find EAGAIN. With a 64 KiB buffer, at 4 KiB × depth
// 16 every read of a whole echo was full and needed that second read: 0.125 reads per
// message instead of 0.0625, the generator's dearest row. Bounded: a deeper pipeline
// reads in several turns, as before.
func readBufSize(inFlight int) int {
	return min(max(64<<10, inFlight+1), 4<<20)
}

func newGen(cfg config) (*gen, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	heavy := heavySet(cfg.conns, cfg.heavyConns())
	maxDepth := cfg.depth
	if len(heavy) > 0 {
		maxDepth = cfg.heavyDepth()
	}
	g := &gen{
		cfg:     cfg,
		epfd:    epfd,
		conns:   make([]conn, cfg.conns),
		payload: make([]byte, maxDepth*cfg.size),
		rbuf:    make([]byte, readBufSize(maxDepth*cfg.size)),
		events:  make([]unix.EpollEvent, 256),
		readyQ:  make([]int32, 0, 2*cfg.conns), // a connection is queued at most twice
		base:    time.Now(),
		skewed:  len(heavy) > 0,
	}
	for i := range g.payload {
		g.payload[i] = byte('a' + i%26)
	}
	ring := 0
	for i := range g.conns {
		c := &g.conns[i]
		c.fd = -1
		c.heavy = heavy[i]
		c.depth = cfg.depth
		if c.heavy {
			c.depth = cfg.heavyDepth()
		}
		c.ring = ring
		ring += c.depth
	}
	g.sendAt = make([]int64, ring)
	return g, nil
}

// heavySet chooses which of n connections are the h heavy ones: a fixed-seed
// shuffle, so that they are spread over the connection (and so accept) order with no
// stride that a round-robin acceptor could line up with, and are the same in every
// run.
func heavySet(n, h int) map[int]bool {
	set := make(map[int]bool, h)
	if h <= 0 {
		return set
	}
	r := rand.New(rand.NewPCG(0x5eed, 0xc010))
	for _, i := range r.Perm(n)[:h] {
		set[i] = true
	}
	return set
}

// now returns monotonic nanoseconds since g.base (time.Since reads the vDSO clock and
// does not allocate).
func (g *gen) now() int64 { return int64(time.Since(g.base)) }

// close closes every connection and the epoll instance.
func (g *gen) close() {
	for i := range g.conns {
		if g.conns[i].fd >= 0 {
			unix.Close(g.conns[i].fd)
			g.conns[i].fd = -1
		}
	}
	unix.Close(g.epfd)
}

// connectAll opens every connection, at most maxPending handshakes at a time, and
// waits until all are established or the timeout passes.
func (g *gen) connectAll(timeout time.Duration) error {
	const maxPending = 512
	deadline := time.Now().Add(timeout)
	next, pending, open := 0, 0, 0
	for open < len(g.conns) {
		for pending < maxPending && next < len(g.conns) {
			if err := g.dial(next); err != nil {
				return fmt.Errorf("connection %d: %w", next, err)
			}
			next++
			pending++
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("connect: %d of %d connections established after %v", open, len(g.conns), timeout)
		}
		n, err := unix.EpollWait(g.epfd, g.events, int(min(left, 100*time.Millisecond)/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range g.events[:n] {
			c := &g.conns[ev.Fd]
			if c.state != stConnecting || ev.Events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
				continue
			}
			soerr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err == nil && soerr != 0 {
				err = unix.Errno(soerr)
			}
			if err != nil {
				return fmt.Errorf("connection %d: connect: %w", ev.Fd, err)
			}
			c.state = stOpen
			pending--
			open++
		}
	}
	return nil
}

// dial starts a non-blocking connect for connection i and registers it with epoll
// (edge-triggered, for reading and writing, once and for all).
func (g *gen) dial(i int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	g.conns[i].fd = fd
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fmt.Errorf("TCP_NODELAY: %w", err)
	}
	if g.cfg.sources > 0 {
		// Bind the source address only: the port is chosen at connect time from the
		// whole 4-tuple, so each source address gets its own ephemeral port range.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			return fmt.Errorf("IP_BIND_ADDRESS_NO_PORT: %w", err)
		}
		src := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, byte(2 + i%g.cfg.sources)}}
		if err := unix.Bind(fd, src); err != nil {
			return fmt.Errorf("bind %v: %w", src.Addr, err)
		}
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(i)}
	if err := unix.EpollCtl(g.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: g.cfg.port, Addr: g.cfg.ip})
	if err != nil && err != unix.EINPROGRESS {
		return fmt.Errorf("connect: %w", err)
	}
	g.conns[i].state = stConnecting
	return nil
}

// window is what is sampled at each edge of the measured window.
type window struct {
	at             int64 // ns since base
	selfUser       time.Duration
	selfSys        time.Duration
	srvUser        uint64 // clock ticks
	srvSys         uint64
	machine        cpuTimes
	mallocs        uint64
	reads, writes  uint64
	waits          uint64
	srvErr, macErr error
}

// sample fills w. It does not allocate (runtime.ReadMemStats and the /proc readers do
// not), so the allocation count between two samples is the loop's own.
func (g *gen) sample(w *window, pr *procReader, ms *runtime.MemStats, ru *unix.Rusage) {
	runtime.ReadMemStats(ms)
	w.mallocs = ms.Mallocs
	if g.cfg.serverPID > 0 {
		w.srvUser, w.srvSys, w.srvErr = pr.procStat(g.cfg.serverPID)
	}
	w.macErr = pr.machineStat(&w.machine)
	if err := unix.Getrusage(unix.RUSAGE_SELF, ru); err == nil {
		w.selfUser = time.Duration(ru.Utime.Nano())
		w.selfSys = time.Duration(ru.Stime.Nano())
	}
	w.reads, w.writes, w.waits = g.reads, g.writes, g.waits
	w.at = g.now()
}

// run drives the load: warmup, then the measured window, sampled at both edges into
// start and end. It returns when the window closes, or early if every connection died.
func (g *gen) run(start, end *window) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var (
		pr procReader
		ms runtime.MemStats
		ru unix.Rusage
	)
	t0 := g.now()
	for i := range g.conns {
		c := &g.conns[i]
		c.toSend = c.depth * g.cfg.size
		ring := g.sendAt[c.ring : c.ring+c.depth]
		for k := range ring {
			ring[k] = t0
		}
		g.flush(int32(i))
	}
	winStart := t0 + int64(g.cfg.warmup)
	winEnd := winStart + int64(g.cfg.duration)
	// A hard cap on turns, far above what the window can use (each turn blocks or
	// does a syscall), so that the loop is bounded in count as well as in time.
	maxTurns := uint64(g.cfg.warmup+g.cfg.duration)/100 + 1<<20
	for turn := uint64(0); turn < maxTurns; turn++ {
		now := g.now()
		if !g.measuring && now >= winStart {
			g.sample(start, &pr, &ms, &ru)
			for i := range g.conns {
				g.conns[i].atStart = g.conns[i].done
			}
			g.hist.Reset()
			g.class[0].Reset()
			g.class[1].Reset()
			g.measuring = true
			now = g.now()
		}
		if g.measuring && now >= winEnd {
			g.sample(end, &pr, &ms, &ru)
			g.measuring = false
			return nil
		}
		if g.errs == len(g.conns) {
			return fmt.Errorf("every connection failed; first error: %w", g.firstErr)
		}
		next := winStart
		if g.measuring {
			next = winEnd
		}
		timeout := int((next-now)/int64(time.Millisecond)) + 1
		timeout = min(timeout, 100)
		if len(g.readyQ) > 0 {
			timeout = 0
		}
		n, err := unix.EpollWait(g.epfd, g.events, timeout)
		g.waits++
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		// Serve the leftovers of the last turn first, then the new events.
		q := len(g.readyQ)
		for k := 0; k < q; k++ {
			i := g.readyQ[k]
			g.conns[i].ready = false
			g.serve(i, true)
		}
		g.readyQ = append(g.readyQ[:0], g.readyQ[q:]...)
		for _, ev := range g.events[:n] {
			g.serve(ev.Fd, ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0)
		}
	}
	return errors.New("loop ran past its turn limit")
}

// serve reads what connection i has received (if in), completes the messages that
// finishes, and writes whatever is queued.
func (g *gen) serve(i int32, in bool) {
	c := &g.conns[i]
	if c.state != stOpen {
		return
	}
	if in {
		got := 0
		k := 0
		for ; k < maxIO; k++ {
			n, err := unix.Read(c.fd, g.rbuf)
			if n > 0 {
				g.reads++
				got += n
				if n < len(g.rbuf) {
					// A short read emptied the socket buffer: whatever arrives later
					// raises a new edge, so the read that would return EAGAIN is not
					// needed.
					break
				}
				continue
			}
			if err == unix.EAGAIN {
				g.reads++
				break
			}
			if err == unix.EINTR {
				continue
			}
			if err == nil {
				err = errors.New("connection closed by the server")
			}
			g.fail(c, err)
			return
		}
		if k == maxIO {
			g.markReady(i)
		}
		if got > 0 {
			g.complete(i, got)
		}
	}
	if c.toSend > 0 {
		g.flush(i)
	}
}

// complete accounts got echoed bytes to connection i: every message they finish is
// timed against its send time and replaced by a new one, queued for writing.
func (g *gen) complete(i int32, got int) {
	c := &g.conns[i]
	size, depth := g.cfg.size, c.depth
	c.rx += got
	msgs := c.rx / size
	if msgs == 0 {
		return
	}
	c.rx -= msgs * size
	if msgs > depth { // more echoed than was sent: the server is broken
		g.fail(c, fmt.Errorf("received %d messages with %d in flight", msgs, depth))
		return
	}
	now := g.now()
	ring := g.sendAt[c.ring : c.ring+depth]
	for range msgs {
		if g.measuring {
			lat := now - ring[c.head]
			g.hist.Record(lat)
			if g.skewed {
				g.class[classOf(c)].Record(lat)
			}
		}
		ring[c.head] = now // the new message takes the finished one's place
		c.head++
		if c.head == depth {
			c.head = 0
		}
	}
	c.done += uint64(msgs)
	c.toSend += msgs * size
}

// flush writes what connection i has queued until it is all written, the socket is
// full (EPOLLOUT will follow) or maxIO writes are done (the ready list takes over).
func (g *gen) flush(i int32) {
	c := &g.conns[i]
	for k := 0; k < maxIO; k++ {
		if c.toSend == 0 {
			return
		}
		n, err := unix.Write(c.fd, g.payload[:min(c.toSend, len(g.payload))])
		g.writes++
		if n > 0 {
			c.toSend -= n
			continue
		}
		switch err {
		case unix.EAGAIN:
			return
		case unix.EINTR:
			continue
		case nil:
			err = errors.New("write returned 0")
		}
		g.fail(c, err)
		return
	}
	if c.toSend > 0 {
		g.markReady(i)
	}
}

// classOf is the index in gen.class of c's latency histogram: 0 light, 1 heavy.
func classOf(c *conn) int {
	if c.heavy {
		return 1
	}
	return 0
}

func (g *gen) markReady(i int32) {
	if !g.conns[i].ready {
		g.conns[i].ready = true
		g.readyQ = append(g.readyQ, i) // within capacity: never grows
	}
}

// fail marks a connection dead and closes it; its count stays in the fairness figures.
func (g *gen) fail(c *conn, err error) {
	if c.state == stDead {
		return
	}
	c.state = stDead
	g.errs++
	if g.firstErr == nil {
		g.firstErr = err
	}
	unix.Close(c.fd)
	c.fd = -1
}
