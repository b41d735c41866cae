// Command gonet is the Go net peer of coio's echo benchmarks: a TCP echo server with
// one goroutine per connection, each reading into its own 4 KiB buffer and writing
// back what it read, the way a plain Go program would.
//
//	GOMAXPROCS=1 taskset -c 0 gonet -addr 127.0.0.1:7001
//
// It prints one line once it listens and runs until SIGINT or SIGTERM.
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
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7001", "address to listen on")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("gonet: ")

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("gonet: listening on %v (GOMAXPROCS %d)\n", ln.Addr(), runtime.GOMAXPROCS(0))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		ln.Close()
	}()

	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("accept: %v", err) // e.g. out of descriptors: keep going
			continue
		}
		go echo(c)
	}
}

// echo copies what c sends back to it until c is closed or fails.
func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
