package iocontext_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
)

// TestGCStressEcho echoes random data over many connections while the garbage
// collector runs continuously (GOGC=1 and runtime.GC in a loop), on every backend, and
// checks every byte that comes back. On io_uring the kernel writes into buffers long
// after the submitting call returned; a buffer the collector freed or reused would show
// up here as corrupted or lost data.
func TestGCStressEcho(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		defer debug.SetGCPercent(debug.SetGCPercent(1))
		stopGC := make(chan struct{})
		var gcs atomic.Int64
		var gcWG sync.WaitGroup
		gcWG.Add(1)
		go func() {
			defer gcWG.Done()
			for {
				select {
				case <-stopGC:
					return
				default:
				}
				runtime.GC()
				gcs.Add(1)
				time.Sleep(100 * time.Microsecond)
			}
		}()
		defer func() { close(stopGC); gcWG.Wait() }()

		ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var accept func(*iocontext.TCPConn, error)
		accept = func(c *iocontext.TCPConn, err error) {
			if err != nil {
				return // the listener was closed
			}
			gcEcho(c)
			ln.AsyncAccept(accept)
		}
		ln.AsyncAccept(accept)
		rs := startRunners(t, ctx, 2)

		const conns, rounds = 16, 60
		deadline := time.Now().Add(waitLimit)
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- gcClient(ln.Addr().String(), uint64(i), rounds, deadline)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		ln.Close()
		rs.stop()
		t.Logf("%s: %d connections × %d rounds echoed intact across %d collections", be.name, conns, rounds, gcs.Load())
	})
}

// gcEcho echoes c until the peer closes, with a fresh buffer for every read so the
// collector has garbage to reclaim while the kernel holds the live buffer.
func gcEcho(c *iocontext.TCPConn) {
	buf := make([]byte, 1+rand.IntN(16<<10))
	c.AsyncReadSome(buf, func(n int, err error) {
		if err != nil {
			c.Close()
			return
		}
		out := buf[:n]
		c.AsyncWrite(out, func(_ int, err error) {
			if err != nil {
				c.Close()
				return
			}
			gcEcho(c)
		})
	})
}

// gcClient sends rounds of random data and checks that each comes back unchanged.
func gcClient(addr string, seed uint64, rounds int, deadline time.Time) error {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	rng := rand.New(rand.NewPCG(seed, 42))
	for r := range rounds {
		msg := make([]byte, 1+rng.IntN(64<<10))
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		werr := make(chan error, 1)
		go func() { _, err := c.Write(msg); werr <- err }()
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if err := <-werr; err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			i := 0
			for i < len(msg) && got[i] == msg[i] {
				i++
			}
			return fmt.Errorf("round %d: echoed data differs from byte %d of %d", r, i, len(msg))
		}
	}
	return nil
}
