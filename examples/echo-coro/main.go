// Command echo-coro is the TCP echo server of examples/echo written in coroutine style:
// each connection is a coroutine whose code reads and writes sequentially,
//
//	for {
//		n, err := y.Read(conn, buf)
//		...
//		y.Write(conn, buf[:n])
//	}
//
// while the runners of one Context share the connections, as in the callback version.
// By default it reads as examples/echo does, into 64 KiB buffers the Context lends
// (y.ReadLent): a waiting connection holds no read buffer, and a read takes all that
// came, up to 64 KiB. -lend=false gives each connection its own 4 KiB buffer, the
// loop above: with 4 KiB messages pipelined 16 deep that costs a read per message,
// and 6.6 times the CPU per message of the lent reads at 1,000 connections
// (bench/results/pairs-coro-lend-vs-coro-20261207-125135.md; ARCHITECTURE.md,
// "Coroutines read lent buffers").
//
//	go run ./examples/echo-coro -addr 127.0.0.1:7000 -runners 2
//	printf 'hello\n' | nc -q1 127.0.0.1 7000
//
// Ctrl-C (SIGINT) or SIGTERM stops it: closing the Context aborts every suspended
// read, and each coroutine returns.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"github.com/coionet/coio/coroutine"
	"github.com/coionet/coio/iocontext"
)

func serve(y *coroutine.Yield, conn *iocontext.TCPConn) {
	defer conn.Close()
	buf := make([]byte, 4096)
	for {
		n, err := y.Read(conn, buf)
		if err != nil {
			return // io.EOF, a reset peer, or the server shutting down
		}
		if _, err := y.Write(conn, buf[:n]); err != nil {
			return
		}
	}
}

// serveLent is serve with buffers lent by the Context.
func serveLent(y *coroutine.Yield, conn *iocontext.TCPConn) {
	defer conn.Close()
	for {
		b, err := y.ReadLent(conn)
		if err != nil {
			return // io.EOF, a reset peer, or the server shutting down
		}
		_, err = y.Write(conn, b.B)
		b.Release()
		if err != nil {
			return
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	runners := flag.Int("runners", runtime.GOMAXPROCS(0), "goroutines running the Context")
	lend := flag.Bool("lend", true, "read into 64 KiB buffers lent by the Context (ReadLent); false: a 4 KiB buffer per connection")
	flag.Parse()
	log.SetFlags(0)

	var opts []iocontext.Option
	if *lend {
		// As examples/echo: the Context's default pool (512 × 4 KiB) is 2 MiB, which
		// 1,000 connections with 4 KiB messages in flight exhaust, and a read of
		// 4 KiB at most makes a pipelining peer cost a read per message. At 4 KiB ×
		// 1,000 connections × depth 16, one runner: 1.9-2.4 µs of server CPU per
		// message against 18-27 with the default pool (two ENOBUFS for every
		// receive that got a buffer).
		opts = append(opts, iocontext.WithLendBuffers(64<<10, 512))
	}
	ctx, err := iocontext.New(opts...)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := iocontext.ListenTCP(ctx, "tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		for {
			conn, err := y.Accept(ln)
			switch {
			case err == nil:
				if *lend {
					coroutine.Spawn(ctx, func(y *coroutine.Yield) { serveLent(y, conn) })
				} else {
					coroutine.Spawn(ctx, func(y *coroutine.Yield) { serve(y, conn) })
				}
			case errors.Is(err, net.ErrClosed), errors.Is(err, iocontext.ErrAborted):
				return // the listener was closed (an accept started after its Close says net.ErrClosed alone)
			default:
				log.Printf("echo-coro: accept: %v", err) // e.g. out of descriptors: keep going
			}
		}
	})

	host, port, _ := net.SplitHostPort(ln.Addr().String())
	fmt.Printf("echo-coro: listening on %v (backend %s, %d runners); try: printf 'hello\\n' | nc -q1 %s %s\n",
		ln.Addr(), ctx.Backend().Kind, *runners, host, port)
	fmt.Printf("echo-coro: backend %s chosen because: %s\n", ctx.Backend().Kind, ctx.Backend().Reason)

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
	if err := ctx.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("echo-coro: stopped")
}
