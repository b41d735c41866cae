// Command fasthttp is the fasthttp peer of coio's HTTP benchmark: a
// github.com/valyala/fasthttp server answering every request with "Hello, World!"
// (text/plain), as examples/http does.
//
// Configuration, following fasthttp's README (a fasthttp.Server with a plain
// RequestHandler, served on an ordinary listener):
//
//   - one net.Listen("tcp4", -addr) listener, no SO_REUSEPORT (fasthttp's reuseport
//     package is its advice for several processes or many cores; the benchmark runs
//     one process on one core);
//   - defaults kept: keep-alive on, the default worker pool and Concurrency
//     (256 * 1024), 4 KiB read and write buffers, no timeouts, the default Server and
//     Date headers (fasthttp caches Date once a second).
//
// In the benchmark it runs as:
//
//	GOMAXPROCS=1 taskset -c 0 fasthttp -addr 127.0.0.1:8080
//
// It prints one line once it listens and runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

const body = "Hello, World!"

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("fasthttp: ")

	ln, err := net.Listen("tcp4", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("text/plain")
			ctx.WriteString(body)
		},
		Name: "fasthttp",
	}
	fmt.Printf("fasthttp: listening on %v (GOMAXPROCS %d)\n", ln.Addr(), runtime.GOMAXPROCS(0))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := srv.ShutdownWithContext(ctx); err != nil {
			log.Printf("shutdown: %v", err)
		}
	}()
	if err := srv.Serve(ln); err != nil {
		log.Fatal(err)
	}
}
