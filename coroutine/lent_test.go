package coroutine_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coionet/coio/coroutine"
	"github.com/coionet/coio/internal/testctx"
	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/proactor"
)

// TestCoroutine_ReadLentEcho: a coroutine echo server that reads with ReadLent, on every
// backend of this system. A request/response exchange (reads that find nothing there
// and suspend), a burst sent at once (reads that find data there and take it without
// suspending), and the end of the stream as (LentBuffer{}, io.EOF).
func TestCoroutine_ReadLentEcho(t *testing.T) {
	kinds := []proactor.Kind{proactor.Kqueue}
	if runtime.GOOS == "linux" {
		kinds = []proactor.Kind{proactor.Epoll, proactor.IOURing}
	}
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			ctx, err := iocontext.New(iocontext.WithBackend(k))
			if err != nil {
				if strings.Contains(err.Error(), "io_uring") {
					t.Skipf("backend %v refused by this kernel: %v", k, err)
				}
				t.Fatal(err)
			}
			defer ctx.Close()
			ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			eof := make(chan error, 1)
			coroutine.Spawn(ctx, func(y *coroutine.Yield) {
				c, err := y.Accept(ln)
				ln.Close()
				if err != nil {
					eof <- err
					return
				}
				defer c.Close()
				for {
					b, err := y.ReadLent(c)
					if err != nil {
						if b.B != nil {
							t.Errorf("ReadLent = %q with %v", b.B, err)
						}
						eof <- err
						return
					}
					_, err = y.Write(c, b.B)
					b.Release()
					if err != nil {
						eof <- err
						return
					}
				}
			})
			done := make(chan struct{})
			go func() { testctx.RunN(ctx, 2); close(done) }()
			peer, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			peer.SetDeadline(time.Now().Add(10 * time.Second))
			for i := range 20 {
				msg := []byte(strings.Repeat(string(rune('a'+i)), 1+i*50))
				got := make([]byte, len(msg))
				if _, err := peer.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("exchange %d: echo %q, %v", i, got, err)
				}
			}
			burst := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
			go peer.Write(burst)
			got := make([]byte, len(burst))
			if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, burst) {
				t.Fatalf("burst: echoed %d bytes, %v; equal %v", len(got), err, bytes.Equal(got, burst))
			}
			peer.(*net.TCPConn).CloseWrite()
			select {
			case err := <-eof:
				if !errors.Is(err, io.EOF) {
					t.Fatalf("ReadLent at the peer's close = %v; want io.EOF", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("ReadLent never saw the end of the stream")
			}
			<-done
		})
	}
}
