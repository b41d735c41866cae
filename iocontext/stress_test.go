package iocontext_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
)

// TestEchoStressManyRunners echoes random-sized messages over many connections with
// several runners and checks every byte.
func TestEchoStressManyRunners(t *testing.T) {
	for _, runners := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("runners=%d", runners), func(t *testing.T) {
			ctx := newContext(t)
			addr := echoServer(t, ctx)
			var wg sync.WaitGroup
			done := make(chan struct{})
			for range runners {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx.Run()
				}()
			}
			go func() { wg.Wait(); close(done) }()

			var cw sync.WaitGroup
			for i := range 32 {
				cw.Add(1)
				go func() {
					defer cw.Done()
					c, err := net.Dial("tcp4", addr.String())
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(20 * time.Second))
					rng := rand.New(rand.NewPCG(uint64(i), 1))
					for range 50 {
						msg := make([]byte, 1+rng.IntN(20000))
						for j := range msg {
							msg[j] = byte(rng.Uint32())
						}
						errc := make(chan error, 1)
						go func() { _, err := c.Write(msg); errc <- err }()
						got := make([]byte, len(msg))
						if _, err := io.ReadFull(c, got); err != nil {
							t.Error(err)
							return
						}
						if err := <-errc; err != nil {
							t.Error(err)
							return
						}
						if !bytes.Equal(got, msg) {
							t.Errorf("conn %d: echoed bytes differ", i)
							return
						}
					}
				}()
			}
			cw.Wait()
			ctx.Stop()
			<-done
			if err := ctx.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPoolPinsAndServes runs an echo server per Context of a Pool on SO_REUSEPORT
// listeners and checks that connections are served and the Pool shuts down cleanly.
func TestPoolPinsAndServes(t *testing.T) {
	p, err := iocontext.NewPool(2)
	if err != nil {
		t.Fatal(err)
	}
	first, second := p.Next(), p.Next()
	if len(p.Contexts()) != 2 || first == second {
		t.Fatal("Next should alternate between the two Contexts")
	}
	var addr string
	for i, ctx := range p.Contexts() {
		a := "127.0.0.1:0"
		if i > 0 {
			a = addr
		}
		ln, err := iocontext.ListenTCP(ctx, "tcp4", a, iocontext.WithReusePort(true))
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		var accept func(*iocontext.TCPConn, error)
		accept = func(c *iocontext.TCPConn, err error) {
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			c.AsyncReadSome(buf, func(n int, err error) {
				if err != nil {
					c.Close()
					return
				}
				c.AsyncWrite(buf[:n], func(int, error) { c.Close() })
			})
			ln.AsyncAccept(accept)
		}
		ln.AsyncAccept(accept)
	}
	p.Start()
	for range 20 {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("ping"))
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "ping" {
			t.Fatalf("got %q, %v", got, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
