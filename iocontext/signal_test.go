package iocontext_test

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
)

func TestSignalSet(t *testing.T) {
	ctx := newContext(t)
	runInBackground(t, ctx, 2)
	a, err := iocontext.NewSignalSet(ctx, syscall.SIGUSR1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _ := iocontext.NewSignalSet(ctx, syscall.SIGUSR1, syscall.SIGUSR2)
	defer b.Close()
	got := make(chan string, 4)
	wait := func(name string, s *iocontext.SignalSet) {
		s.AsyncWait(func(sig os.Signal, err error) {
			if err != nil {
				got <- name + ":" + err.Error()
				return
			}
			got <- name + ":" + sig.String()
		})
	}
	recv := func() string {
		select {
		case v := <-got:
			return v
		case <-time.After(5 * time.Second):
			t.Fatal("no signal delivered")
			return ""
		}
	}
	// Both sets contain SIGUSR1: each gets it.
	wait("a", a)
	wait("b", b)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	r1, r2 := recv(), recv()
	if !((r1 == "a:user defined signal 1" && r2 == "b:user defined signal 1") || (r2 == "a:user defined signal 1" && r1 == "b:user defined signal 1")) {
		t.Fatalf("got %q and %q; want both sets to receive SIGUSR1", r1, r2)
	}
	// A signal with no wait pending is queued for the next wait.
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	time.Sleep(50 * time.Millisecond)
	wait("b", b)
	if r := recv(); r != "b:user defined signal 2" {
		t.Fatalf("queued signal: got %q", r)
	}
	// Cancel aborts a pending wait.
	wait("a", a)
	if n := a.Cancel(); n != 1 {
		t.Fatalf("Cancel aborted %d waits; want 1", n)
	}
	if r := recv(); r != "a:"+iocontext.ErrAborted.Error() {
		t.Fatalf("cancelled wait: %q", r)
	}
	// Removed signals are not delivered to the set.
	b.Remove(syscall.SIGUSR2)
	wait("a", a)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	if r := recv(); r != "a:user defined signal 1" {
		t.Fatalf("got %q", r)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); !errors.Is(err, iocontext.ErrContextClosed) {
		t.Fatalf("second Close = %v", err)
	}
}

func TestSignalWaitHoldsWorkAndCloseAborts(t *testing.T) {
	ctx := newContext(t)
	s, err := iocontext.NewSignalSet(ctx, syscall.SIGUSR2)
	if err != nil {
		t.Fatal(err)
	}
	var gotErr error
	s.AsyncWait(func(_ os.Signal, err error) { gotErr = err })
	done := make(chan struct{})
	go func() { ctx.Run(); close(done) }()
	select {
	case <-done:
		t.Fatal("Run returned with a signal wait pending")
	case <-time.After(50 * time.Millisecond):
	}
	ctx.Stop()
	<-done
	ctx.Close() // closes the set: the wait is aborted and its handler run
	if !errors.Is(gotErr, iocontext.ErrAborted) {
		t.Fatalf("wait at Close: %v; want ErrAborted", gotErr)
	}
}
