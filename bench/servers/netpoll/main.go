//go:build !netbsd && !openbsd

// Command netpoll is the cloudwego/netpoll peer of coio's echo benchmarks: a TCP
// echo server on github.com/cloudwego/netpoll's EventLoop. netpoll's pollers read
// into each connection's buffer and then call the OnRequest handler, which takes
// everything buffered (Reader.Next(Reader.Len())), copies it into the connection's
// Writer (Malloc), flushes, and releases the read buffer.
//
// Configuration, following netpoll's user guide (docs/guide/guide_en.md):
//
//   - listener from netpoll.CreateListener("tcp", -addr); netpoll.NewEventLoop with
//     no options (no read, write or idle timeouts).
//   - pollers: netpoll's default, GOMAXPROCS/20 + 1, so one poller when GOMAXPROCS is
//     1; the guide's heavy-I/O advice, SetNumLoops(GOMAXPROCS), gives the same here.
//     -loops N sets netpoll.Config.PollerNum (what SetNumLoops did); the two-core
//     runs use 2 (that advice again).
//   - netpoll.DisableGopool(): the guide says to turn the goroutine pool off when the
//     service has no stack-growth problem (an echo has none), so each OnRequest run
//     gets a plain goroutine.
//   - defaults kept: round-robin load balancing, 4 KiB (page size) link buffers,
//     AlwaysNoCopyRead off.
//
// In the benchmark it runs as:
//
//	GOMAXPROCS=1 taskset -c 0 netpoll -addr 127.0.0.1:7000
//
// It prints one line once it listens and runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/cloudwego/netpoll"
)

// echo writes back everything buffered for conn.
func echo(_ context.Context, conn netpoll.Connection) error {
	r, w := conn.Reader(), conn.Writer()
	defer r.Release()
	n := r.Len()
	if n == 0 {
		return nil
	}
	in, err := r.Next(n)
	if err != nil {
		return err
	}
	out, err := w.Malloc(n)
	if err != nil {
		return err
	}
	copy(out, in)
	return w.Flush()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	loops := flag.Int("loops", 0, "pollers, netpoll.SetNumLoops (0: netpoll's default, GOMAXPROCS/20+1)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("netpoll: ")

	// Handlers on plain goroutines, not netpoll's pool (what the deprecated DisableGopool
	// did); the other fields are netpoll's defaults.
	if err := netpoll.Configure(netpoll.Config{Runner: func(_ context.Context, f func()) { go f() }}); err != nil {
		log.Fatal(err)
	}
	pollers := runtime.GOMAXPROCS(0)/20 + 1
	if *loops > 0 {
		if err := netpoll.Configure(netpoll.Config{PollerNum: *loops, LoadBalance: netpoll.RoundRobin}); err != nil {
			log.Fatal(err)
		}
		pollers = *loops
	}
	ln, err := netpoll.CreateListener("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	loop, err := netpoll.NewEventLoop(echo)
	if err != nil {
		log.Fatal(err)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := loop.Shutdown(ctx); err != nil {
			log.Printf("shutdown: %v", err)
		}
		os.Exit(0)
	}()

	fmt.Printf("netpoll: listening on %s (GOMAXPROCS %d, pollers %d)\n", ln.Addr(), runtime.GOMAXPROCS(0), pollers)
	if err := loop.Serve(ln); err != nil {
		log.Fatal(err)
	}
}
