package iocontext_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/proactor"
	"golang.org/x/sys/unix"
)

// lentResult is what an AsyncReadLent handler got.
type lentResult struct {
	b   iocontext.LentBuffer
	err error
}

func lentHandler() (chan lentResult, func(iocontext.LentBuffer, error)) {
	ch := make(chan lentResult, 1)
	return ch, func(b iocontext.LentBuffer, err error) { ch <- lentResult{b, err} }
}

// TestLentReadDeliversData reads with lent buffers on every backend and transport:
// the bytes arrive in order, each buffer is released, the end of stream is io.EOF
// with no buffer.
func TestLentReadDeliversData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t, iocontext.WithLendBuffers(1024, 8))
			startRunners(t, ctx, 2)
			s, peer := tr.pair(t, ctx)
			defer s.Close()
			want := pattern(64<<10, 3)
			go func() {
				peer.Write(want)
				peer.Close()
			}()
			var got []byte
			for {
				ch, h := lentHandler()
				s.AsyncReadLent(h)
				r := recv(t, ch, "lent read")
				if r.err != nil {
					if !errors.Is(r.err, io.EOF) || r.b.B != nil {
						t.Fatalf("end of stream: (%d bytes, %v); want (no buffer, io.EOF)", len(r.b.B), r.err)
					}
					break
				}
				if len(r.b.B) == 0 || len(r.b.B) > 1024 {
					t.Fatalf("lent read of %d bytes from 1024-byte buffers", len(r.b.B))
				}
				got = append(got, r.b.B...)
				r.b.Release()
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes through lent buffers; want the %d sent, in order", len(got), len(want))
			}
		})
	})
}

// TestLentReadWaitsForARelease holds every buffer of a small pool: a further read
// waits with its data in the socket, and completes with it once a buffer comes back.
func TestLentReadWaitsForARelease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t, iocontext.WithLendBuffers(512, 2))
		startRunners(t, ctx, 1)
		tr := transports[0]
		var held []iocontext.LentBuffer
		for i := range 2 {
			s, peer := tr.pair(t, ctx)
			defer s.Close()
			// A whole buffer each: an incremental ring would put smaller reads
			// side by side in one buffer.
			peer.Write(bytes.Repeat([]byte{byte('a' + i)}, 512))
			ch, h := lentHandler()
			s.AsyncReadLent(h)
			r := recv(t, ch, "lent read")
			if r.err != nil {
				t.Fatal(r.err)
			}
			if len(r.b.B) != 512 {
				t.Fatalf("lent read of 512 bytes sent at once got %d", len(r.b.B))
			}
			held = append(held, r.b)
		}
		s, peer := tr.pair(t, ctx)
		defer s.Close()
		peer.Write([]byte("third"))
		ch, h := lentHandler()
		s.AsyncReadLent(h)
		if be.kind.String() == "iouring" {
			// The kernel's ring is empty: the read must wait, not fail or spin.
			quiet(t, ch, 100*time.Millisecond, "a lent read with every buffer lent")
		}
		held[0].Release()
		r := recv(t, ch, "the read after a release")
		if r.err != nil || string(r.b.B) != "third" {
			t.Fatalf("read after release = (%q, %v); want (\"third\", nil)", r.b.B, r.err)
		}
		r.b.Release()
		held[1].Release()
	})
}

// TestLentReadAbortedByClose closes a stream whose lent read waits for data or for
// a buffer: the handler runs once with an error matching ErrAborted and net.ErrClosed.
func TestLentReadAbortedByClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t, iocontext.WithLendBuffers(512, 1))
		startRunners(t, ctx, 1)
		tr := transports[0]
		holder, hp := tr.pair(t, ctx)
		defer holder.Close()
		hp.Write(bytes.Repeat([]byte("x"), 512)) // fills the only buffer
		ch, h := lentHandler()
		holder.AsyncReadLent(h)
		held := recv(t, ch, "lent read")
		if held.err != nil {
			t.Fatal(held.err)
		}
		defer held.b.Release()

		cases := []bool{false} // waiting for data
		if be.kind.String() == "iouring" {
			// Waiting for a buffer: only io_uring's pool is bounded; a reactive
			// backend grows its pool and completes the read.
			cases = append(cases, true)
		}
		for _, withData := range cases {
			s, peer := tr.pair(t, ctx)
			if withData {
				peer.Write([]byte("y"))
			}
			ch, h := lentHandler()
			s.AsyncReadLent(h)
			time.Sleep(20 * time.Millisecond)
			s.Close()
			r := recv(t, ch, "aborted lent read")
			if !isAbortedClosed(r.err) || r.b.B != nil {
				t.Fatalf("lent read at Close (data %v) = (%d bytes, %v); want ErrAborted and net.ErrClosed", withData, len(r.b.B), r.err)
			}
			quiet(t, ch, 20*time.Millisecond, "a second completion")
		}
	})
}

func TestLentBufferReleasedTwicePanics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		startRunners(t, ctx, 1)
		s, peer := transports[0].pair(t, ctx)
		defer s.Close()
		peer.Write([]byte("z"))
		ch, h := lentHandler()
		s.AsyncReadLent(h)
		r := recv(t, ch, "lent read")
		r.b.Release()
		defer func() {
			if recover() == nil {
				t.Fatal("a second Release did not panic")
			}
		}()
		r.b.Release()
	})
}

// TestLentReadsShareABuffer holds the data of six small reads from a pool of two
// buffers: on io_uring with an incremental buffer ring (Linux 6.12) each read takes
// only the bytes it received, so the pieces share the buffers and none waits; on
// every backend each piece holds its own bytes and ends where they end, so appending
// to one cannot overwrite the next.
func TestLentReadsShareABuffer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t, iocontext.WithLendBuffers(4096, 2))
		startRunners(t, ctx, 1)
		tr := transports[0]
		if be.kind.String() == "iouring" && !kernelAtLeast(6, 12) {
			t.Skip("kernel before 6.12: no incremental buffer ring (IOU_PBUF_RING_INC), a read takes a whole buffer")
		}
		var held []iocontext.LentBuffer
		for i := range 6 {
			s, peer := tr.pair(t, ctx)
			defer s.Close()
			want := bytes.Repeat([]byte{byte('a' + i)}, 100)
			peer.Write(want)
			ch, h := lentHandler()
			s.AsyncReadLent(h)
			r := recv(t, ch, "a small lent read while the others hold theirs")
			if r.err != nil || !bytes.Equal(r.b.B, want) {
				t.Fatalf("lent read %d = (%q, %v); want 100 × %q", i, r.b.B, r.err, rune('a'+i))
			}
			if cap(r.b.B) != len(r.b.B) {
				t.Fatalf("lent piece of %d bytes has capacity %d: an append would write over the buffer's next piece", len(r.b.B), cap(r.b.B))
			}
			held = append(held, r.b)
		}
		for i, b := range held {
			if want := bytes.Repeat([]byte{byte('a' + i)}, 100); !bytes.Equal(b.B, want) {
				t.Fatalf("piece %d changed while the others were read: %q", i, b.B)
			}
			b.Release()
		}
	})
}

// kernelAtLeast reports whether the running kernel is major.minor or later.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var ma, mi int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi)
	return ma > major || ma == major && mi >= minor
}

// TestLentWriteReleasesTheBuffer echoes what a lent read got with AsyncWriteLent: the
// peer reads it back, and the buffer has been released when the handler runs (a
// second Release panics), so the caller never held it.
func TestLentWriteReleasesTheBuffer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t, iocontext.WithLendBuffers(512, 2))
			startRunners(t, ctx, 1)
			s, peer := tr.pair(t, ctx)
			defer s.Close()
			peer.Write([]byte("ping"))
			ch, h := lentHandler()
			s.AsyncReadLent(h)
			r := recv(t, ch, "lent read")
			if r.err != nil {
				t.Fatal(r.err)
			}
			wch := make(chan error, 1)
			s.AsyncWriteLent(r.b, func(n int, err error) {
				if err == nil && n != 4 {
					err = fmt.Errorf("wrote %d bytes; want 4", n)
				}
				wch <- err
			})
			if err := recv(t, wch, "lent write"); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 4)
			if _, err := io.ReadFull(peer, got); err != nil || string(got) != "ping" {
				t.Fatalf("peer read (%q, %v); want \"ping\"", got, err)
			}
			defer func() {
				if recover() == nil {
					t.Fatal("the buffer was not released by AsyncWriteLent: a second Release did not panic")
				}
			}()
			r.b.Release()
		})
	})
}

// TestLentReadLargeMessagesCancelAndClose reads messages large enough for io_uring to
// read each with a request of its own (lentSingleMin), then cancels and closes while
// such a read waits: the bytes arrive in order, the cancelled read ends with
// ErrAborted and a later one gets the data, the closed one ends with an error
// matching ErrAborted and net.ErrClosed. On every backend.
func TestLentReadLargeMessagesCancelAndClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t, iocontext.WithLendBuffers(16<<10, 16))
		startRunners(t, ctx, 2)
		s, peer := transports[0].pair(t, ctx)
		defer s.Close()
		for i := range 4 {
			msg := bytes.Repeat([]byte{byte('a' + i)}, 4096)
			ch, h := lentHandler()
			s.AsyncReadLent(h)
			peer.Write(msg)
			var got []byte
			for {
				r := recv(t, ch, "lent read of a large message")
				if r.err != nil {
					t.Fatalf("message %d: %v", i, r.err)
				}
				got = append(got, r.b.B...)
				r.b.Release()
				if len(got) >= len(msg) {
					break
				}
				s.AsyncReadLent(h)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("message %d: read %d bytes, not the 4096 sent", i, len(got))
			}
		}

		ch, h := lentHandler()
		s.AsyncReadLent(h)
		time.Sleep(10 * time.Millisecond) // waiting, in the kernel on io_uring
		s.Cancel()
		if r := recv(t, ch, "the cancelled read"); !errors.Is(r.err, iocontext.ErrAborted) || r.b.B != nil {
			t.Fatalf("cancelled lent read = (%d bytes, %v); want (none, ErrAborted)", len(r.b.B), r.err)
		}
		s.AsyncReadLent(h)
		peer.Write([]byte("after the cancel"))
		r := recv(t, ch, "a read after the cancel")
		if r.err != nil || string(r.b.B) != "after the cancel" {
			t.Fatalf("read after the cancel = (%q, %v)", r.b.B, r.err)
		}
		r.b.Release()

		s.AsyncReadLent(h)
		time.Sleep(10 * time.Millisecond)
		s.Close()
		r = recv(t, ch, "the read aborted by Close")
		if !errors.Is(r.err, iocontext.ErrAborted) || !errors.Is(r.err, net.ErrClosed) || r.b.B != nil {
			t.Fatalf("lent read at Close = (%d bytes, %v); want (none, ErrAborted and net.ErrClosed)", len(r.b.B), r.err)
		}
	})
}

// TestLentReadBulkEchoInOrder echoes through lent buffers what a peer sends faster
// than one read takes, so that reads return tens of kilobytes (on io_uring such a
// connection reads when its handler is due and writes at once: a bulk descriptor),
// then small messages (the mode ends): every byte comes back, in order. On every
// backend and transport, with two runners.
func TestLentReadBulkEchoInOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			// More buffers than the io_uring ring holds at first: the rest are
			// spare for bulk reads.
			ctx := be.open(t, iocontext.WithLendBuffers(64<<10, 64))
			startRunners(t, ctx, 2)
			s, peer := tr.pair(t, ctx)
			ended := make(chan error, 1)
			var onRead func(iocontext.LentBuffer, error)
			onWrite := func(_ int, err error) {
				if err != nil {
					ended <- err
					return
				}
				s.AsyncReadLent(onRead)
			}
			onRead = func(b iocontext.LentBuffer, err error) {
				if err != nil {
					ended <- err
					return
				}
				s.AsyncWriteLent(b, onWrite)
			}
			s.AsyncReadLent(onRead)

			want := pattern(4<<20, 5)
			wrote := make(chan error, 1)
			go func() {
				var err error
				for off := 0; off < len(want) && err == nil; off += 16 << 10 {
					_, err = peer.Write(want[off : off+16<<10])
				}
				wrote <- err
			}()
			peer.SetReadDeadline(time.Now().Add(20 * time.Second))
			got := make([]byte, len(want))
			if _, err := io.ReadFull(peer, got); err != nil {
				t.Fatalf("reading the echo: %v", err)
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("echo of %d bytes differs from what was sent", len(want))
			}
			small := make([]byte, 64)
			for i := range 50 {
				msg := fmt.Appendf(nil, "small message %d", i)
				peer.Write(msg)
				if _, err := io.ReadFull(peer, small[:len(msg)]); err != nil || !bytes.Equal(small[:len(msg)], msg) {
					t.Fatalf("small message %d: echo %q, %v", i, small[:len(msg)], err)
				}
			}
			peer.Close()
			if err := recv(t, ended, "the end of the echo"); !errors.Is(err, io.EOF) {
				t.Fatalf("the echo ended with %v; want io.EOF", err)
			}
			s.Close()
			// On io_uring a request makes no syscall of its own; the bulk reads and
			// writes make one each.
			if st := ctx.Stats(); be.kind == proactor.IOURing && st.IOSyscalls == 0 {
				t.Fatal("no read or write made with a syscall: the connection never became a bulk one")
			}
		})
	})
}

// releaseWatch counts the lent buffers given back to the backend: by the Context
// (ReleaseBuffer), or by the backend itself when it reaps a lent write that wrote all
// of its buffer (proactor.Op.BufID set to 0; io_uring).
type releaseWatch struct {
	proactor.Backend
	n     atomic.Int32
	mu    sync.Mutex
	lentW map[*proactor.Op]bool // lent writes submitted and not yet reaped
}

func (r *releaseWatch) ReleaseBuffer(id int32) {
	r.n.Add(1)
	r.Backend.ReleaseBuffer(id)
}

func (r *releaseWatch) Submit(op *proactor.Op) {
	if op.Kind == proactor.OpWrite && op.BufID > 0 {
		r.mu.Lock()
		if r.lentW == nil {
			r.lentW = make(map[*proactor.Op]bool)
		}
		r.lentW[op] = true
		r.mu.Unlock()
	}
	r.Backend.Submit(op)
}

func (r *releaseWatch) Wait(timeout time.Duration, ready []*proactor.Op) ([]*proactor.Op, error) {
	n := len(ready)
	ready, err := r.Backend.Wait(timeout, ready)
	r.mu.Lock()
	for _, op := range ready[n:] {
		if r.lentW[op] {
			delete(r.lentW, op)
			if op.BufID == 0 {
				r.n.Add(1) // given back in the reap
			}
		}
	}
	r.mu.Unlock()
	return ready, err
}

// TestLentWriteReleasesItsBufferAtCompletion: AsyncWriteLent gives its buffer back
// when the write is made, before its handler runs; a write that the backend makes at
// once (the reactive backends, while the socket has room) gives it back before
// AsyncWriteLent returns, so that the next read can take the same buffer. On every
// backend.
func TestLentWriteReleasesItsBufferAtCompletion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t, iocontext.WithLendBuffers(4096, 8))
		rel := &releaseWatch{}
		iocontext.WrapBackend(ctx, func(b proactor.Backend) proactor.Backend {
			rel.Backend = b
			return rel
		})
		startRunners(t, ctx, 1)
		s, peer := transports[0].pair(t, ctx)
		defer s.Close()
		type result struct {
			atReturn, atHandler int32 // releases when AsyncWriteLent returned, when its handler ran
			n                   int
			err                 error
		}
		ch := make(chan result, 1)
		s.AsyncReadLent(func(b iocontext.LentBuffer, err error) {
			if err != nil {
				ch <- result{err: err}
				return
			}
			var r result
			s.AsyncWriteLent(b, func(n int, err error) {
				r.atHandler, r.n, r.err = rel.n.Load(), n, err
				ch <- r
			})
			r.atReturn = rel.n.Load() // before the write's handler: one runner
		})
		peer.Write([]byte("hello"))
		r := recv(t, ch, "the lent write")
		if r.err != nil || r.n != 5 || r.atHandler != 1 {
			t.Fatalf("lent write = (%d, %v) with %d releases when its handler ran; want (5, nil) and 1", r.n, r.err, r.atHandler)
		}
		if be.kind == proactor.Epoll || be.kind == proactor.Kqueue {
			if r.atReturn != 1 {
				t.Fatalf("%d releases when AsyncWriteLent returned, the write made at once; want 1", r.atReturn)
			}
		}
		echo := make([]byte, 5)
		if _, err := io.ReadFull(peer, echo); err != nil || string(echo) != "hello" {
			t.Fatalf("echo %q, %v", echo, err)
		}
	})
}
