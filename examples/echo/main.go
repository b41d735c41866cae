// Command echo is a TCP echo server written with coio's callback API: every byte a
// client sends comes back to it.
//
//	go run ./examples/echo -addr 127.0.0.1:7000 -runners 2
//	printf 'hello\n' | nc -q1 127.0.0.1 7000
//
// One Context is run by -runners goroutines, which share the connections: whichever
// runner is free runs a connection's next handler. The engine's statistics are served
// to Prometheus on -metrics (default 127.0.0.1:9100, path /metrics; empty turns it
// off). Ctrl-C (SIGINT) or SIGTERM stops the server: the Context is closed, which
// closes every connection and aborts their pending operations.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/metrics"
)

// session echoes one connection: read some, write it all back, repeat. Its handlers
// are made once, so each echo allocates nothing.
type session struct {
	conn            *iocontext.TCPConn
	buf             []byte
	onRead, onWrite func(int, error)
}

func newSession(conn *iocontext.TCPConn) *session {
	s := &session{conn: conn, buf: make([]byte, 4096)}
	s.onRead = func(n int, err error) {
		if err != nil {
			s.conn.Close()
			return
		}
		s.conn.AsyncWrite(s.buf[:n], s.onWrite)
	}
	s.onWrite = func(_ int, err error) {
		if err != nil {
			s.conn.Close()
			return
		}
		s.conn.AsyncReadSome(s.buf, s.onRead)
	}
	return s
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	runners := flag.Int("runners", runtime.GOMAXPROCS(0), "goroutines running the Context")
	metricsAddr := flag.String("metrics", "127.0.0.1:9100", "address serving /metrics (empty: off)")
	stats := flag.Bool("stats", true, "keep engine statistics (off: /metrics shows zeros; for measuring their cost)")
	flag.Parse()
	log.SetFlags(0)

	ctx, err := iocontext.New(iocontext.WithStats(*stats))
	if err != nil {
		log.Fatal(err)
	}
	ln, err := iocontext.ListenTCP(ctx, "tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}

	var accept func(*iocontext.TCPConn, error)
	accept = func(conn *iocontext.TCPConn, err error) {
		switch {
		case err == nil:
			s := newSession(conn)
			conn.AsyncReadSome(s.buf, s.onRead)
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

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		ctx.Stop()
	}()

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
