// Command gnet is the gnet v2 peer of coio's echo benchmarks: a TCP echo server on
// github.com/panjf2000/gnet/v2, with the echo done in the event loop itself
// (OnTraffic takes everything buffered with c.Next(-1) and writes it back with
// c.Write, which sends at once and keeps any unsent rest in gnet's outbound buffer).
//
// Configuration, following gnet's README and its echo examples (gnet.Run with
// options, everything else at its defaults):
//
//   - multicore: off when GOMAXPROCS is 1 (the benchmark pins the server to one core
//     with GOMAXPROCS=1), so gnet runs one event loop; on otherwise, which gives one
//     event loop per usable CPU. Override with -multicore.
//   - defaults kept: level-triggered epoll, 64 KiB read buffer (ReadBufferCap),
//     64 KiB static write buffer (WriteBufferCap), TCP_NODELAY on, no SO_REUSEPORT,
//     no ticker, LockOSThread off, round-robin load balancing; built without the
//     optional poll_opt / gc_opt build tags.
//
// In the benchmark it runs as:
//
//	GOMAXPROCS=1 taskset -c 0 gnet -addr 127.0.0.1:7000
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

	"github.com/panjf2000/gnet/v2"
)

// echoServer is gnet's event handler: it echoes whatever arrives.
type echoServer struct {
	gnet.BuiltinEventEngine
	addr      string
	multicore bool
	eng       chan gnet.Engine
}

// OnBoot reports that the engine listens and hands the engine over for stopping.
func (s *echoServer) OnBoot(eng gnet.Engine) gnet.Action {
	fmt.Printf("gnet: listening on %s (GOMAXPROCS %d, multicore %v)\n", s.addr, runtime.GOMAXPROCS(0), s.multicore)
	s.eng <- eng
	return gnet.None
}

// OnTraffic writes back everything buffered for c.
func (s *echoServer) OnTraffic(c gnet.Conn) gnet.Action {
	buf, err := c.Next(-1)
	if err != nil {
		return gnet.Close
	}
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	multicore := flag.Bool("multicore", runtime.GOMAXPROCS(0) > 1, "one event loop per CPU (default: on unless GOMAXPROCS is 1)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("gnet: ")

	s := &echoServer{addr: *addr, multicore: *multicore, eng: make(chan gnet.Engine, 1)}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		select {
		case eng := <-s.eng:
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := eng.Stop(ctx); err != nil {
				log.Printf("stop: %v", err)
			}
		case <-time.After(time.Second):
		}
		os.Exit(0)
	}()

	err := gnet.Run(s, "tcp://"+*addr, gnet.WithMulticore(*multicore))
	if err != nil {
		log.Fatal(err)
	}
}
