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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/metrics"
)

// server counts the open connections so that a drain knows when it is over. It keeps
// nothing per connection: the lent-buffer handlers (the default) take the connection
// as an argument (AsyncReadLentConn, AsyncWriteLentConn), so two func values made once
// serve every connection, and an idle connection costs the server nothing beyond its
// TCPConn; the drain reaches the connections through the Context (CloseReadAll).
type server struct {
	ctx       *iocontext.Context
	ln        *iocontext.TCPListener
	open      atomic.Int64 // connections accepted and not yet closed
	draining  atomic.Bool
	drainOnce sync.Once
	drained   func() // called once, when draining and the last connection has closed
	lend      bool   // read into lent buffers (-lend)
	bufSize   int    // bytes per read with -lend=false (-buf)

	onLent  func(*iocontext.TCPConn, iocontext.LentBuffer, error) // a lent read's handler
	onWrite func(*iocontext.TCPConn, int, error)                  // a write's handler
}

// newServer makes the server's handlers, once for all connections: read some into a
// lent buffer, write it back (the write releases the buffer), repeat.
func newServer(ctx *iocontext.Context, ln *iocontext.TCPListener, lend bool, bufSize int) *server {
	srv := &server{ctx: ctx, ln: ln, lend: lend, bufSize: bufSize}
	srv.onLent = func(conn *iocontext.TCPConn, b iocontext.LentBuffer, err error) {
		if err != nil { // io.EOF: the client is done, or the server is draining
			srv.close(conn)
			return
		}
		conn.AsyncWriteLentConn(b, srv.onWrite)
	}
	srv.onWrite = func(conn *iocontext.TCPConn, _ int, err error) {
		if err != nil {
			srv.close(conn)
			return
		}
		conn.AsyncReadLentConn(srv.onLent)
	}
	return srv
}

func (srv *server) start(conn *iocontext.TCPConn) {
	srv.open.Add(1)
	if srv.draining.Load() {
		// Accepted before the drain began, started after CloseReadAll: its first
		// read ends with io.EOF.
		conn.CloseRead()
	}
	if srv.lend {
		conn.AsyncReadLentConn(srv.onLent)
		return
	}
	srv.startOwn(conn)
}

// startOwn echoes through a buffer of the connection's own (-lend=false), with
// handlers made for the connection, as closures over it and its buffer.
func (srv *server) startOwn(conn *iocontext.TCPConn) {
	buf := make([]byte, srv.bufSize)
	var onRead, onWrite func(int, error)
	onRead = func(n int, err error) {
		if err != nil {
			srv.close(conn)
			return
		}
		conn.AsyncWrite(buf[:n], onWrite)
	}
	onWrite = func(_ int, err error) {
		if err != nil {
			srv.close(conn)
			return
		}
		conn.AsyncReadSome(buf, onRead)
	}
	conn.AsyncReadSome(buf, onRead)
}

// close closes a connection whose exchange is over (each connection has one read or
// one write in flight, so this runs once per connection).
func (srv *server) close(conn *iocontext.TCPConn) {
	conn.Close()
	if srv.open.Add(-1) == 0 && srv.draining.Load() {
		srv.drainOnce.Do(srv.drained)
	}
}

// drain stops accepting and lets every connection finish its exchange in flight.
func (srv *server) drain() {
	srv.ln.Close()
	srv.draining.Store(true)
	srv.ctx.CloseReadAll() // a pending read ends with io.EOF; a write in flight completes
	if srv.open.Load() == 0 {
		srv.drainOnce.Do(srv.drained)
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
	budget := flag.Int("budget", 0, "handlers a runner runs between two looks at the kernel (0: the Context's default)")
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
	opts := []iocontext.Option{iocontext.WithStats(*stats), iocontext.WithBudget(*budget)}
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
	srv := newServer(ctx, ln, *lend, *bufSize)

	// AsyncAcceptEach takes the connections already waiting (TryAccept) before it
	// accepts again: each accept's handler is queued behind every other, so a burst of
	// new connections into a busy server accepted one per round took seconds
	// (ARCHITECTURE.md, "Accept loops drain").
	ln.AsyncAcceptEach(func(conn *iocontext.TCPConn, err error) {
		switch {
		case err == nil:
			srv.start(conn)
		case errors.Is(err, net.ErrClosed), errors.Is(err, iocontext.ErrAborted):
			// The listener was closed: the loop has ended.
		default:
			log.Printf("echo: accept: %v", err) // e.g. out of descriptors: the loop goes on
		}
	})

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
