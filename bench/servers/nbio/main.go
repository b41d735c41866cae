//go:build !netbsd && !openbsd

// Command nbio is the nbio peer of coio's echo benchmarks: a TCP echo server on
// github.com/lesismal/nbio, an epoll engine made with nbio.NewEngine whose OnData
// handler writes every chunk it receives back with c.Write (nbio sends at once and
// copies any unsent rest into the connection's write list).
//
// Configuration, following nbio's README and its TCP echo example (nbio.Config with
// Network and Addrs, everything else at its defaults):
//
//   - Network "tcp", Addrs {-addr}.
//   - NPoller 0, which nbio turns into max(1, NumCPU/4): one poller goroutine when
//     pinned to one core (and for up to 7 CPUs). -npoller N sets it; the two-core
//     runs use 2, one poller per core.
//   - defaults kept: level-triggered epoll (EpollMod EPOLLLT), reads in the poller
//     goroutine (AsyncReadInPoller false), 64 KiB read buffer, no write-buffer limit,
//     the default read count per fd and event loop, LockPoller / LockListener off,
//     the default memory pool.
//   - nbio's own logging at errors only (it logs nothing per message either way).
//
// In the benchmark it runs as:
//
//	GOMAXPROCS=1 taskset -c 0 nbio -addr 127.0.0.1:7000
//
// It prints one line once it listens and runs until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	npoller := flag.Int("npoller", 0, "poller goroutines (0: nbio's default, max(1, NumCPU/4))")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("nbio: ")
	logging.SetLevel(logging.LevelError)

	engine := nbio.NewEngine(nbio.Config{
		Network: "tcp",
		Addrs:   []string{*addr},
		NPoller: *npoller,
	})
	engine.OnData(func(c *nbio.Conn, data []byte) {
		if _, err := c.Write(data); err != nil {
			c.Close()
		}
	})
	if err := engine.Start(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("nbio: listening on %s (GOMAXPROCS %d, pollers %d)\n", *addr, runtime.GOMAXPROCS(0), engine.NPoller)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	engine.Stop()
}
