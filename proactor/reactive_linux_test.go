package proactor

import (
	"os"
	"os/signal"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSocketWritesRaiseNoSIGPIPE: a write to a peer that is gone fails with an error
// and raises no SIGPIPE, which a program watching for it with signal.Notify would
// get: the reactive backend's plain and gathered writes, and TryNow on both kinds of
// backend (the io_uring requests and bulk writes say MSG_NOSIGNAL too).
func TestSocketWritesRaiseNoSIGPIPE(t *testing.T) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGPIPE)
	defer signal.Stop(sig)

	be, sink, f, p := reactivePair(t)
	unix.Shutdown(p, unix.SHUT_RDWR) // the peer is gone
	for _, op := range []*Op{
		{Kind: OpWrite, FD: f, Buf: []byte("x")},
		{Kind: OpWrite, FD: f, Ext: &OpExt{Vec: [][]byte{[]byte("a"), []byte("b")}}},
	} {
		be.Submit(op)
		select {
		case got := <-sink:
			if got != op || op.Err == nil {
				t.Fatalf("write to a peer that is gone = (%d, %v)", op.N, op.Err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("write to a peer that is gone did not complete")
		}
	}
	if op := (&Op{Kind: OpWrite, FD: f, Buf: []byte("y")}); !be.TryNow(op) || op.Err == nil {
		t.Fatalf("TryNow write to a peer that is gone = (%d, %v)", op.N, op.Err)
	}
	if err := be.Close(f); err != nil {
		t.Fatal(err)
	}

	usink := make(chanSink, 4)
	u := openUringOrSkip(t, usink)
	g, q := registeredPair(t, u)
	unix.Shutdown(q, unix.SHUT_RDWR)
	if op := (&Op{Kind: OpWrite, FD: g, Buf: []byte("z")}); !u.TryNow(op) || op.Err == nil {
		t.Fatalf("io_uring TryNow write to a peer that is gone = (%d, %v)", op.N, op.Err)
	}
	closeAndReap(t, u, usink, g)

	select {
	case <-sig:
		t.Fatal("SIGPIPE raised by a write to a peer that is gone")
	case <-time.After(100 * time.Millisecond):
	}
}
