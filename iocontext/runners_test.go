package iocontext_test

import (
	"slices"
	"sync"
	"testing"
	"time"

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
	guard := iocontext.NewWorkGuard(ctx)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx.Run()
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); !slices.Contains(rc.counts(), 2); {
		if time.Now().After(deadline) {
			t.Fatalf("the backend heard %v; want 2 runners at some point", rc.counts())
		}
		time.Sleep(time.Millisecond)
	}
	guard.Reset()
	ctx.Stop()
	wg.Wait()
	got := rc.counts()
	if want := []int{1, 2, 1, 0}; !slices.Equal(got, want) {
		t.Fatalf("the backend heard %v; want %v", got, want)
	}
}

// TestHandlerWaitsForOneQueuedBehindIt: a handler that waits for another one it has
// just posted, which lands on its own runner's queue, gets it run by the other
// runner, whether that one sleeps or waits in the backend. Runners wake each other
// lazily for short queues (lazyNotify); the deferred wake-up must still come.
func TestHandlerWaitsForOneQueuedBehindIt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		guard := iocontext.NewWorkGuard(ctx)
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx.Run()
			}()
		}
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
				guard.Reset()
				ctx.Stop()
				wg.Wait()
				t.Fatalf("round %d: the handler queued behind a waiting one never ran", round)
			}
		}
		guard.Reset()
		ctx.Stop()
		wg.Wait()
	})
}
