// Command proxy is a TCP proxy written with coio's callback API: each connection
// accepted on -addr is joined to a new connection to -to, and bytes flow both ways
// through buffers the Context lends (AsyncReadLent, then AsyncWriteLent of the same
// buffer), so a pair waiting for data holds no buffer of its own. The end of one
// side's stream is passed on as a half-close (CloseWrite), so request-then-EOF
// protocols work through it; the pair is closed once both directions have ended, or
// at the first error on either side. Ctrl-C stops it.
//
// The lent buffers are one pool for every pair (-lend-count, 512 by default), and a
// pair holds one per direction while its write is in flight: a few hundred clients
// that stop reading would hold the pool and stall the other pairs' reads, so a
// proxy facing untrusted clients sizes the pool for them or bounds each write's
// time.
//
//	go run ./examples/echo -addr 127.0.0.1:7000 -metrics= &
//	go run ./examples/proxy -addr 127.0.0.1:7100 -to 127.0.0.1:7000
//	printf 'hello\n' | nc -q1 127.0.0.1 7100
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/coionet/coio/iocontext"
)

// pair is one proxied connection: the client's side and the upstream side.
type pair struct {
	down, up *iocontext.TCPConn
	flowing  atomic.Int32 // directions not yet ended: the last one closes the pair
	closed   atomic.Bool
}

// pump copies from one side to the other until from's stream ends (passed on with
// CloseWrite) or either side fails (the pair is closed). One read, then the write of
// what it lent, then the next read: at most one buffer in flight per direction, and
// a slow reader on one side slows its writer on the other (back-pressure).
func (p *pair) pump(from, to *iocontext.TCPConn) {
	var onRead func(iocontext.LentBuffer, error)
	onWrite := func(_ int, err error) {
		if err != nil {
			p.close()
			return
		}
		from.AsyncReadLent(onRead)
	}
	onRead = func(b iocontext.LentBuffer, err error) {
		switch {
		case err == nil:
			to.AsyncWriteLent(b, onWrite) // releases b when the write is over
		case errors.Is(err, io.EOF):
			if to.CloseWrite() != nil || p.flowing.Add(-1) == 0 {
				p.close()
			}
		default:
			p.close()
		}
	}
	from.AsyncReadLent(onRead)
}

// close closes both sides once: what is in flight on either ends with ErrAborted.
func (p *pair) close() {
	if p.closed.CompareAndSwap(false, true) {
		p.down.Close()
		p.up.Close()
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7100", "address to listen on")
	to := flag.String("to", "127.0.0.1:7000", "upstream address each connection is joined to")
	runners := flag.Int("runners", runtime.GOMAXPROCS(0), "goroutines running the Context")
	bufSize := flag.Int("buf", 64<<10, "bytes per lent buffer")
	lendCount := flag.Int("lend-count", 512, "lent buffers (a power of two)")
	flag.Parse()
	log.SetFlags(0)

	ctx, err := iocontext.New(iocontext.WithLendBuffers(*bufSize, *lendCount))
	if err != nil {
		log.Fatal(err)
	}
	ln, err := iocontext.ListenTCP(ctx, "tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	var pairs atomic.Int64
	ln.AsyncAcceptEach(func(down *iocontext.TCPConn, err error) {
		switch {
		case err == nil:
		case errors.Is(err, net.ErrClosed), errors.Is(err, iocontext.ErrAborted):
			return // the listener was closed: the loop has ended
		default:
			log.Printf("proxy: accept: %v", err) // e.g. out of descriptors: the loop goes on
			return
		}
		iocontext.AsyncDialTCP(ctx, "tcp", *to, func(up *iocontext.TCPConn, err error) {
			if err != nil {
				log.Printf("proxy: %v: upstream: %v", down.RemoteAddr(), err)
				down.Close()
				return
			}
			pairs.Add(1)
			p := &pair{down: down, up: up}
			p.flowing.Store(2)
			p.pump(down, up)
			p.pump(up, down)
		})
	})
	fmt.Printf("proxy: listening on %v (to %s, backend %s, %d runners)\n", ln.Addr(), *to, ctx.Backend().Kind, *runners)

	// The first SIGINT or SIGTERM stops: the listener closes, the run calls return,
	// and Close ends the pairs still open.
	sigs, err := iocontext.NewSignalSet(ctx, os.Interrupt, syscall.SIGTERM)
	if err != nil {
		log.Fatal(err)
	}
	sigs.AsyncWait(func(_ os.Signal, err error) {
		if err == nil {
			ln.Close()
			ctx.Stop()
		}
	})
	var wg sync.WaitGroup
	for range *runners {
		wg.Go(func() { ctx.Run() })
	}
	wg.Wait()
	sigs.Close()
	if err := ctx.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("proxy: stopped after %d connections\n", pairs.Load())
}
