package iocontext_test

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coionet/coio/internal/gident"
	"github.com/coionet/coio/iocontext"
)

func TestOffloadQueuesNeverDrops(t *testing.T) {
	ctx := newContext(t, iocontext.WithOffloadPool(2))
	defer ctx.Close()
	release := make(chan struct{})
	var ran, handled atomic.Int32
	var offRunner, onRunner atomic.Int32
	for range 10 {
		var fnG atomic.Uintptr
		ctx.Offload(func() {
			fnG.Store(gident.Current())
			<-release
			ran.Add(1)
		}, func(err error) {
			if fnG.Load() != gident.Current() {
				offRunner.Add(1) // fn ran on another goroutine than this handler's runner
			}
			if err != nil {
				t.Error(err)
			}
			inline := false
			ctx.Dispatch(func() { inline = true }) // from a runner: inline
			if inline {
				onRunner.Add(1)
			}
			handled.Add(1)
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if s := ctx.Stats(); s.OffloadBusy == 2 && s.OffloadQueued == 8 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if s := ctx.Stats(); s.OffloadBusy != 2 || s.OffloadQueued != 8 {
		t.Fatalf("busy %d queued %d; want 2 and 8 with a pool of 2", s.OffloadBusy, s.OffloadQueued)
	}
	close(release)
	ctx.Run() // returns when every handler has run: offloaded work is work
	if ran.Load() != 10 || handled.Load() != 10 || offRunner.Load() != 10 || onRunner.Load() != 10 {
		t.Fatalf("ran %d, handled %d, off runner %d, on runner %d; want 10 each",
			ran.Load(), handled.Load(), offRunner.Load(), onRunner.Load())
	}
}

func TestOffloadCloseWaitsAndAborts(t *testing.T) {
	ctx, err := iocontext.New(iocontext.WithOffloadPool(1))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var results []error
	ctx.Offload(func() { close(started); time.Sleep(50 * time.Millisecond) }, func(err error) { results = append(results, err) })
	ctx.Offload(func() { t.Error("a queued function ran after Close") }, func(err error) { results = append(results, err) })
	<-started
	ctx.Close()
	if len(results) != 2 || results[0] != nil || !errors.Is(results[1], iocontext.ErrAborted) {
		t.Fatalf("results %v; want [nil ErrAborted]", results)
	}
}

func TestAsyncResolve(t *testing.T) {
	ctx := newContext(t)
	defer ctx.Close()
	var n int
	var gotErr error
	iocontext.AsyncResolve(ctx, "localhost", func(addrs []netip.Addr, err error) {
		n, gotErr = len(addrs), err
		for _, a := range addrs {
			if !a.IsLoopback() {
				t.Errorf("localhost resolved to %v", a)
			}
		}
	})
	ctx.Run()
	if gotErr != nil || n == 0 {
		t.Fatalf("AsyncResolve(localhost) = %d addresses, %v", n, gotErr)
	}
}
