package iocontext_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coionet/coio/internal/testctx"
	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/proactor"
)

// runnerCounting records what the Context tells its backend about its runners.
type runnerCounting struct {
	proactor.Backend
	mu   sync.Mutex
	seen []int
}

func (r *runnerCounting) SetRunners(n int) {
	r.mu.Lock()
	r.seen = append(r.seen, n)
	r.mu.Unlock()
}

func (r *runnerCounting) counts() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// TestContextTellsBackendItsRunners: a backend that reads differently with one runner
// and with several (io_uring) hears of every run call that starts or ends.
func TestContextTellsBackendItsRunners(t *testing.T) {
	ctx, err := iocontext.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	rc := &runnerCounting{}
	iocontext.WrapBackend(ctx, func(be proactor.Backend) proactor.Backend {
		rc.Backend = be
		return rc
	})
	stop := runHeld(ctx, 2)
	for deadline := time.Now().Add(5 * time.Second); !slices.Contains(rc.counts(), 2); {
		if time.Now().After(deadline) {
			t.Fatalf("the backend heard %v; want 2 runners at some point", rc.counts())
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	got := rc.counts()
	if want := []int{1, 2, 1, 0}; !slices.Equal(got, want) {
		t.Fatalf("the backend heard %v; want %v", got, want)
	}
}

// runHeld runs ctx on n goroutines, held by a work guard so that they wait for work
// rather than return; stop lets them go and waits for them.
func runHeld(ctx *iocontext.Context, n int) (stop func()) {
	guard := iocontext.NewWorkGuard(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		testctx.RunN(ctx, n)
	}()
	return func() {
		guard.Reset()
		ctx.Stop()
		<-done
	}
}

// TestHandlerWaitsForOneQueuedBehindIt: a handler that waits for another one it has
// just posted, which lands on its own runner's queue, gets it run by the other
// runner even when that one waits in the backend, where a handler's post does not
// wake it (the late check does: lateCheck).
func TestHandlerWaitsForOneQueuedBehindIt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		stop := runHeld(ctx, 2)
		defer stop()
		for round := range 20 {
			time.Sleep(2 * time.Millisecond) // both runners idle: one asleep, one in the backend
			ok := make(chan bool, 1)
			ctx.Post(func() {
				second := make(chan struct{})
				ctx.Post(func() { close(second) }) // queued behind this handler
				select {
				case <-second:
					ok <- true
				case <-time.After(5 * time.Second):
					ok <- false
				}
			})
			if !<-ok {
				t.Fatalf("round %d: the handler queued behind a waiting one never ran", round)
			}
		}
	})
}
