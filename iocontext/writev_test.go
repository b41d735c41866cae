package iocontext_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/coionet/coio/iocontext"
)

// vecWriter is what TCPConn and UnixConn offer for gathered writes.
type vecWriter interface {
	AsyncWriteVec(bufs [][]byte, h func(n int, err error))
}

// TestWriteVecDeliversInOrder writes a long vector of buffers of mixed sizes (empty
// ones included, more buffers than one writev or sendmsg takes, more bytes than the
// socket buffers hold) while the peer reads: the peer gets exactly their
// concatenation, and the handler runs once with the total.
func TestWriteVecDeliversInOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			startRunners(t, ctx, 2)
			s, peer := tr.pair(t, ctx)
			defer s.Close()
			var bufs [][]byte
			var want []byte
			for i := range 1500 {
				b := pattern(i*37%3000, byte(i))
				if i%10 == 0 {
					b = nil
				}
				bufs = append(bufs, b)
				want = append(want, b...)
			}
			res, h := rwHandler(t, "gathered write")
			s.(vecWriter).AsyncWriteVec(bufs, h)
			// The caller may reuse its slice at once: the stream copied the headers.
			for i := range bufs {
				bufs[i] = nil
			}
			got := make([]byte, len(want))
			if _, err := io.ReadFull(peer, got); err != nil {
				t.Fatal(err)
			}
			if r := recv(t, res, "gathered write"); r.n != len(want) || r.err != nil {
				t.Fatalf("gathered write = %v; want (%d, nil)", r, len(want))
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("peer read %d bytes that differ from the %d written", len(got), len(want))
			}

			res, h = rwHandler(t, "empty gathered write")
			s.(vecWriter).AsyncWriteVec([][]byte{nil, {}}, h)
			if r := recv(t, res, "empty gathered write"); r.n != 0 || r.err != nil {
				t.Fatalf("empty gathered write = %v; want (0, nil)", r)
			}
		})
	})
}

// TestWriteVecToResetPeer: a gathered write that the peer resets midway reports the
// bytes written so far and an error, once.
func TestWriteVecToResetPeer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		startRunners(t, ctx, 1)
		s, peer := transports[0].pair(t, ctx)
		defer s.Close()
		resetPeer(t, peer)
		big := pattern(1<<20, 1)
		res, h := rwHandler(t, "gathered write to a reset peer")
		s.(vecWriter).AsyncWriteVec([][]byte{big, big, big, big}, h)
		r := recv(t, res, "gathered write to a reset peer")
		if r.err == nil || r.n >= 4<<20 {
			t.Fatalf("gathered write to a reset peer = %v; want an error before the end", r)
		}
		if errors.Is(r.err, iocontext.ErrBusy) {
			t.Fatalf("gathered write reported %v", r.err)
		}
	})
}
