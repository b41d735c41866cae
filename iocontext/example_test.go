package iocontext_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/coionet/coio/iocontext"
)

// A handler posted to a Context runs on a goroutine that calls Run; Run returns when
// the work is done.
func ExampleContext_Post() {
	ctx, err := iocontext.New()
	if err != nil {
		panic(err)
	}
	defer ctx.Close()
	for i := range 3 {
		ctx.Post(func() { fmt.Println("handler", i) })
	}
	n := ctx.Run()
	fmt.Println("ran", n, "handlers; stopped:", ctx.Stopped())
	// Output:
	// handler 0
	// handler 1
	// handler 2
	// ran 3 handlers; stopped: true
}

// Dispatch from inside a handler runs at once; from outside it posts.
func ExampleContext_Dispatch() {
	ctx, _ := iocontext.New()
	defer ctx.Close()
	ctx.Post(func() {
		ctx.Dispatch(func() { fmt.Println("dispatched, inline") })
		fmt.Println("after Dispatch")
	})
	ctx.Run()
	// Output:
	// dispatched, inline
	// after Dispatch
}

// A timer wait completes once the expiry has passed.
func ExampleTimer() {
	ctx, _ := iocontext.New()
	defer ctx.Close()
	t := iocontext.NewTimer(ctx)
	start := time.Now()
	t.ExpiresAfter(20 * time.Millisecond)
	t.AsyncWait(func(err error) {
		fmt.Println("fired:", err, "late enough:", time.Since(start) >= 20*time.Millisecond)
	})
	ctx.Run()
	// Output: fired: <nil> late enough: true
}

// An echo server with the callback API, and a client from package net talking to it.
func ExampleListenTCP() {
	ctx, _ := iocontext.New()
	defer ctx.Close()
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ln.AsyncAccept(func(c *iocontext.TCPConn, err error) {
		if err != nil {
			return
		}
		ln.Close() // one connection is enough for the example
		buf := make([]byte, 512)
		var onRead func(int, error)
		onRead = func(n int, err error) {
			if err != nil { // io.EOF when the client closes
				c.Close()
				return
			}
			c.AsyncWrite(buf[:n], func(_ int, err error) {
				if err == nil {
					c.AsyncReadSome(buf, onRead)
				}
			})
		}
		c.AsyncReadSome(buf, onRead)
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx.Run()
	}()

	conn, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	conn.Write([]byte("hello, coio"))
	reply := make([]byte, 11)
	io.ReadFull(conn, reply)
	fmt.Println(string(reply))
	conn.Close()
	<-done // Run returns once the connection is closed: no work is left
	// Output: hello, coio
}

// An accept loop that takes the connections already waiting (TryAccept) before it
// accepts again: each AsyncAccept's handler waits its turn behind every other
// handler, so a busy server that accepted one connection per handler would take on a
// burst of new connections one per round of its queue.
func ExampleTCPListener_TryAccept() {
	ctx, _ := iocontext.New()
	defer ctx.Close()
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	// Three clients connect before the server runs: their connections wait.
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	handlers, accepted := 0, 0
	var accept func(*iocontext.TCPConn, error)
	accept = func(c *iocontext.TCPConn, err error) {
		if err != nil {
			return // the listener was closed
		}
		handlers++
		for ; c != nil; c, _ = ln.TryAccept() { // up to a bound, in a real server
			accepted++
			c.Close() // a server would start reading here
		}
		if accepted < len(clients) {
			ln.AsyncAccept(accept)
			return
		}
		ln.Close()
	}
	ln.AsyncAccept(accept)
	ctx.Run()
	fmt.Printf("%d connections accepted by %d handler\n", accepted, handlers)
	// Output: 3 connections accepted by 1 handler
}

// An accept loop for a server under load: the connections already waiting when an
// accept completes are taken in the same turn, and the loop ends with one last call
// when the listener closes.
func ExampleTCPListener_AsyncAcceptEach() {
	ctx, _ := iocontext.New()
	defer ctx.Close()
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	accepted := 0
	ln.AsyncAcceptEach(func(c *iocontext.TCPConn, err error) {
		switch {
		case err == nil:
			accepted++
			c.Close() // a server would start reading here
			if accepted == len(clients) {
				ln.Close()
			}
		case errors.Is(err, iocontext.ErrAborted), errors.Is(err, net.ErrClosed):
			fmt.Println("the loop ended:", errors.Is(err, net.ErrClosed))
		default:
			fmt.Println("accept:", err) // e.g. out of descriptors: the loop goes on
		}
	})
	ctx.Run() // returns once the loop has ended and nothing else is left
	fmt.Printf("%d connections accepted\n", accepted)
	// Output:
	// the loop ended: true
	// 3 connections accepted
}

// An echo connection that reads into buffers lent by the Context: between messages it
// holds no read buffer of its own. The handler releases each buffer once the bytes are
// written back. The gathered write sends a header and the lent bytes in one syscall.
func ExampleTCPConn_AsyncReadLent() {
	ctx, _ := iocontext.New(iocontext.WithLendBuffers(4096, 64))
	defer ctx.Close()
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ln.AsyncAccept(func(c *iocontext.TCPConn, err error) {
		if err != nil {
			return
		}
		ln.Close()
		header := []byte("echo: ")
		var onRead func(iocontext.LentBuffer, error)
		onRead = func(b iocontext.LentBuffer, err error) {
			if err != nil { // io.EOF when the client closes
				c.Close()
				return
			}
			c.AsyncWriteVec([][]byte{header, b.B}, func(_ int, err error) {
				b.Release()
				if err == nil {
					c.AsyncReadLent(onRead)
				}
			})
		}
		c.AsyncReadLent(onRead)
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx.Run()
	}()

	conn, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	conn.Write([]byte("hello"))
	reply := make([]byte, len("echo: hello"))
	io.ReadFull(conn, reply)
	fmt.Println(string(reply))
	conn.Close()
	<-done
	// Output: echo: hello
}

// An echo server whose two handlers take the connection: made once, they serve every
// connection, which holds nothing of the server's but its TCPConn.
func ExampleTCPConn_AsyncReadLentConn() {
	ctx, _ := iocontext.New(iocontext.WithLendBuffers(4096, 64))
	defer ctx.Close()
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var onRead func(*iocontext.TCPConn, iocontext.LentBuffer, error)
	onWrite := func(c *iocontext.TCPConn, _ int, err error) {
		if err == nil {
			c.AsyncReadLentConn(onRead)
		}
	}
	onRead = func(c *iocontext.TCPConn, b iocontext.LentBuffer, err error) {
		if err != nil { // io.EOF when the client closes
			c.Close()
			return
		}
		c.AsyncWriteLentConn(b, onWrite) // releases b when the write is over
	}
	accepted := 0
	var onAccept func(*iocontext.TCPConn, error)
	onAccept = func(c *iocontext.TCPConn, err error) {
		if err != nil {
			return
		}
		c.AsyncReadLentConn(onRead)
		if accepted++; accepted < 2 {
			ln.AsyncAccept(onAccept)
		} else {
			ln.Close()
		}
	}
	ln.AsyncAccept(onAccept)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx.Run()
	}()

	for _, msg := range []string{"hello", "world"} {
		conn, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		conn.Write([]byte(msg))
		reply := make([]byte, len(msg))
		io.ReadFull(conn, reply)
		fmt.Println(string(reply))
		conn.Close()
	}
	<-done
	// Output:
	// hello
	// world
}
