// Command echo is a TCP echo server written with coio's callback API: every byte a
// client sends comes back to it.
//
//	go run ./examples/echo -addr 127.0.0.1:7000 -runners 2
//	printf 'hello\n' | nc -q1 127.0.0.1 7000
//
// One Context is run by -runners goroutines, which share the connections: whichever
// runner is free runs a connection's next handler. Reads go into buffers the Context
// lends (AsyncReadLent; on io_uring a provided-buffer ring filled by one multishot
// recv per connection), so an idle connection holds no buffer; -lend=false gives each
// connection its own. The engine's statistics are served
// to Prometheus on -metrics (default 127.0.0.1:9100, path /metrics; empty turns it
// off).
//
// Ctrl-C (SIGINT) or SIGTERM drains the server: it stops accepting, shuts the reading
// side of every connection so that each finishes the exchange in flight (the bytes it
// has read are written back) and then closes, and exits once all are closed or -grace
// has passed. A second signal stops at once.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/metrics"
)

// server tracks the open sessions so that a drain can reach them.
type server struct {
	ctx      *iocontext.Context
	ln       *iocontext.TCPListener
	mu       sync.Mutex
	sessions *session // the open sessions, linked through prev and next
	open     int
	draining bool
	drained  func() // called once, when draining and the last session has closed
	lend     bool   // sessions read into lent buffers (-lend)
	bufSize  int    // bytes per read (-buf)
}

// session echoes one connection: read some, write it all back, repeat. Its handlers
// are made once, so each echo allocates nothing. It is kept small, as a server with
// many idle connections holds one per connection: the open sessions are a list
// through the sessions themselves, not a map, and with lent buffers (the default) an
// idle session holds no buffer at all — the write that echoes a lent buffer releases
// it (AsyncWriteLent), so the session need not keep it.
type session struct {
	srv        *server
	conn       *iocontext.TCPConn
	prev, next *session
	onWrite    func(int, error)
	onLent     func(iocontext.LentBuffer, error) // -lend: the read's handler
}

// ownSession is a session with its own read buffer (-lend=false).
type ownSession struct {
	session
	buf    []byte
	onRead func(int, error)
}

func (srv *server) start(conn *iocontext.TCPConn) {
	if srv.lend {
		srv.startLent(conn)
		return
	}
	o := &ownSession{session: session{srv: srv, conn: conn}, buf: make([]byte, srv.bufSize)}
	s := &o.session
	o.onRead = func(n int, err error) {
		if err != nil { // io.EOF: the client is done, or the server is draining
			s.close()
			return
		}
		s.conn.AsyncWrite(o.buf[:n], s.onWrite)
	}
	s.onWrite = func(_ int, err error) {
		if err != nil {
			s.close()
			return
		}
		s.conn.AsyncReadSome(o.buf, o.onRead)
	}
	srv.add(s)
	conn.AsyncReadSome(o.buf, o.onRead)
}

// startLent echoes with lent read buffers: read, write the lent bytes back (the write
// releases the buffer), repeat.
func (srv *server) startLent(conn *iocontext.TCPConn) {
	s := &session{srv: srv, conn: conn}
	s.onLent = func(b iocontext.LentBuffer, err error) {
		if err != nil {
			s.close()
			return
		}
		s.conn.AsyncWriteLent(b, s.onWrite)
	}
	s.onWrite = func(_ int, err error) {
		if err != nil {
			s.close()
			return
		}
		s.conn.AsyncReadLent(s.onLent)
	}
	srv.add(s)
	conn.AsyncReadLent(s.onLent)
}

// add lists a new session; during a drain its connection is shut for reading at once.
func (srv *server) add(s *session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s.next = srv.sessions
	if s.next != nil {
		s.next.prev = s
	}
	srv.sessions = s
	srv.open++
	if srv.draining {
		s.conn.CloseRead()
	}
}

func (s *session) close() {
	s.conn.Close()
	srv := s.srv
	srv.mu.Lock()
	if s.prev == nil && srv.sessions != s {
		srv.mu.Unlock() // closed before
		return
	}
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		srv.sessions = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
	srv.open--
	last := srv.draining && srv.open == 0
	srv.mu.Unlock()
	if last {
		srv.drained()
	}
}

// drain stops accepting and lets every session finish its exchange in flight.
func (srv *server) drain() {
	srv.ln.Close()
	srv.mu.Lock()
	srv.draining = true
	for s := srv.sessions; s != nil; s = s.next {
		s.conn.CloseRead() // a pending read ends with io.EOF; a write in flight completes
	}
	empty := srv.open == 0
	srv.mu.Unlock()
	if empty {
		srv.drained()
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	runners := flag.Int("runners", runtime.GOMAXPROCS(0), "goroutines running the Context")
	metricsAddr := flag.String("metrics", "127.0.0.1:9100", "address serving /metrics (empty: off)")
	stats := flag.Bool("stats", true, "keep engine statistics (off: /metrics shows zeros; for measuring their cost)")
	grace := flag.Duration("grace", 5*time.Second, "how long a drain waits for connections to finish")
	bufSize := flag.Int("buf", 0, "bytes per read: each lent buffer (default 65536), or each session's own buffer with -lend=false (default 4096)")
	lendCount := flag.Int("lend-count", 512, "lent buffers (a power of two): reads waiting for data beyond that many wait for a release")
	lend := flag.Bool("lend", true, "read into buffers lent by the Context (AsyncReadLent), so an idle connection holds no buffer; false: each session has its own")
	flag.Parse()
	log.SetFlags(0)

	switch {
	case *bufSize < 0:
		log.Fatalf("echo: -buf %d: want a positive size", *bufSize)
	case *bufSize == 0 && *lend:
		// Lent buffers are shared, so they can be large: a read takes whatever
		// has arrived, up to 64 KiB, in one go. Only the pages a read touches
		// become resident: a 64-byte message touches one.
		*bufSize = 64 << 10
	case *bufSize == 0:
		*bufSize = 4 << 10 // a buffer per connection: kept small
	}
	opts := []iocontext.Option{iocontext.WithStats(*stats)}
	if *lend {
		opts = append(opts, iocontext.WithLendBuffers(*bufSize, *lendCount))
	}
	ctx, err := iocontext.New(opts...)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := iocontext.ListenTCP(ctx, "tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &server{ctx: ctx, ln: ln, lend: *lend, bufSize: *bufSize}

	var accept func(*iocontext.TCPConn, error)
	accept = func(conn *iocontext.TCPConn, err error) {
		switch {
		case err == nil:
			srv.start(conn)
		case errors.Is(err, iocontext.ErrAborted):
			return // the listener was closed
		default:
			log.Printf("echo: accept: %v", err) // e.g. out of descriptors: keep going
		}
		ln.AsyncAccept(accept)
	}
	ln.AsyncAccept(accept)

	host, port, _ := net.SplitHostPort(ln.Addr().String())
	fmt.Printf("echo: listening on %v (backend %s, %d runners); try: printf 'hello\\n' | nc -q1 %s %s\n",
		ln.Addr(), ctx.Backend().Kind, *runners, host, port)
	fmt.Printf("echo: backend %s chosen because: %s\n", ctx.Backend().Kind, ctx.Backend().Reason)

	var msrv *http.Server
	if *metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics.Handler(ctx))
		msrv = &http.Server{Addr: *metricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		mln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("echo: metrics on http://%v/metrics\n", mln.Addr())
		go msrv.Serve(mln)
	}

	// Shutdown on SIGINT/SIGTERM, through the Context: the first signal drains, a
	// second one (or the grace period) stops at once.
	sigs, err := iocontext.NewSignalSet(ctx, os.Interrupt, syscall.SIGTERM)
	if err != nil {
		log.Fatal(err)
	}
	deadline := iocontext.NewTimer(ctx)
	srv.drained = func() {
		deadline.Cancel()
		sigs.Close() // nothing left to wait for: the runners return
	}
	sigs.AsyncWait(func(_ os.Signal, err error) {
		if err != nil {
			return
		}
		fmt.Println("echo: draining")
		deadline.ExpiresAfter(*grace)
		deadline.AsyncWait(func(err error) {
			if err == nil {
				ctx.Stop() // grace period over: Close below aborts the rest
			}
		})
		sigs.AsyncWait(func(_ os.Signal, err error) {
			if err == nil {
				ctx.Stop()
			}
		})
		srv.drain()
	})

	var wg sync.WaitGroup
	for range *runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx.Run()
		}()
	}
	wg.Wait()
	if msrv != nil {
		msrv.Close()
	}
	if err := ctx.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("echo: stopped")
}
