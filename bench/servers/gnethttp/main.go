// Command gnethttp is the gnet v2 peer of coio's HTTP benchmark: a minimal HTTP/1.1
// responder on github.com/panjf2000/gnet/v2 answering every request with
// "Hello, World!" (text/plain), the same bytes as examples/http -mode callback.
//
// gnet has no HTTP layer of its own; like its HTTP examples this one parses in the
// event loop. OnTraffic looks at everything buffered (c.Peek(-1)), answers every
// complete request in it (pipelined requests get their responses in one c.Write),
// discards what it answered (c.Discard) and leaves an incomplete request buffered for
// the next OnTraffic. It handles keep-alive, Content-Length bodies, Connection: close
// and HTTP/1.0; anything else (chunked bodies, a malformed request) gets a 400 and the
// connection closes, as does a request head over 8 KiB (431).
//
// Configuration as for bench/servers/gnet: gnet.Run with gnet.WithMulticore(m), m =
// GOMAXPROCS > 1 (one event loop when pinned to one core), everything else at its
// defaults (level-triggered epoll, 64 KiB read and write buffers, TCP_NODELAY on).
//
//	GOMAXPROCS=1 taskset -c 0 gnethttp -addr 127.0.0.1:8080
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

// server is gnet's event handler.
type server struct {
	gnet.BuiltinEventEngine
	addr      string
	multicore bool
	eng       chan gnet.Engine
}

// conn is a connection's state: the space its responses are built in, kept between
// events so that answering allocates nothing.
type conn struct{ out []byte }

// OnBoot reports that the engine listens and hands the engine over for stopping.
func (s *server) OnBoot(eng gnet.Engine) gnet.Action {
	fmt.Printf("gnethttp: listening on %s (GOMAXPROCS %d, multicore %v)\n", s.addr, runtime.GOMAXPROCS(0), s.multicore)
	s.eng <- eng
	return gnet.None
}

// OnOpen gives the connection its state.
func (s *server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&conn{out: make([]byte, 0, 512)})
	return nil, gnet.None
}

// OnTraffic answers the complete requests buffered for c.
func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	st := c.Context().(*conn)
	in, err := c.Peek(-1)
	if err != nil {
		return gnet.Close
	}
	out, used, closeConn := respond(in, st.out[:0])
	if _, err := c.Discard(used); err != nil {
		return gnet.Close
	}
	if len(out) > 0 {
		if _, err := c.Write(out); err != nil {
			return gnet.Close
		}
	}
	st.out = out[:0]
	if closeConn {
		return gnet.Close
	}
	return gnet.None
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	multicore := flag.Bool("multicore", runtime.GOMAXPROCS(0) > 1, "one event loop per CPU (default: on unless GOMAXPROCS is 1)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("gnethttp: ")

	s := &server{addr: *addr, multicore: *multicore, eng: make(chan gnet.Engine, 1)}
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
	if err := gnet.Run(s, "tcp://"+*addr, gnet.WithMulticore(*multicore)); err != nil {
		log.Fatal(err)
	}
}
