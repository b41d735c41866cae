package main

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/coionet/coio/internal/exampletest"
	"github.com/coionet/coio/internal/testctx"
)

func TestMain(m *testing.M) { testctx.VerifyMain(m) }

// upstream is a Go net echo server that answers a half-close with its own, after
// the echo: what a request-then-EOF protocol's server does.
func upstream(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			})
		}
	})
	return ln
}

// TestProxyProgram builds the program and sends through it, on each backend: several
// connections at once, each writing a few hundred KiB and half-closing, must get every
// byte back and then the end of the stream (the half-close went up and came back
// down); a connection whose upstream refuses is closed; SIGINT stops the program.
func TestProxyProgram(t *testing.T) {
	bin := exampletest.Build(t, "proxy")
	for _, be := range []string{"epoll", "iouring"} {
		t.Run(be, func(t *testing.T) {
			t.Setenv("COIO_BACKEND", be)
			up := upstream(t)
			p := exampletest.Run(t, bin, "proxy", "-addr", "127.0.0.1:0", "-to", up.Addr().String(), "-runners", "2")
			idle := p.OpenFDs()
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Go(func() {
					c, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(20 * time.Second))
					msg := bytes.Repeat([]byte{byte('a' + i)}, 300<<10+i)
					go func() {
						c.Write(msg)
						c.(*net.TCPConn).CloseWrite()
					}()
					got, err := io.ReadAll(c) // to the end of the stream
					if err != nil || !bytes.Equal(got, msg) {
						t.Errorf("connection %d: %d of %d bytes back (%v)", i, len(got), len(msg), err)
					}
				})
			}
			wg.Wait()
			// Every pair is done both ways: the proxy closes both of its sides. (Its
			// descriptors are counted from /proc, so only where that is readable.)
			if idle >= 0 {
				open := p.OpenFDs()
				for deadline := time.Now().Add(10 * time.Second); open != idle && time.Now().Before(deadline); open = p.OpenFDs() {
					time.Sleep(10 * time.Millisecond)
				}
				if open != idle {
					t.Errorf("the proxy holds %d descriptors after its connections ended; %d before them", open, idle)
				}
			}

			// An upstream that refuses: the proxy closes the client's connection.
			dead, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			deadAddr := dead.Addr().String()
			dead.Close()
			q := exampletest.Run(t, bin, "proxy", "-addr", "127.0.0.1:0", "-to", deadAddr, "-runners", "1")
			c, err := net.DialTimeout("tcp", q.Addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
				t.Errorf("read from a connection whose upstream refused = %d, %v; want it closed", n, err)
			}
			c.Close()
			q.Stop()
			p.Stop()
		})
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
