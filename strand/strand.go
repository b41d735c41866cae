package strand

import (
	"sync"
	"sync/atomic"

	"github.com/coionet/coio/internal/gident"
	"github.com/coionet/coio/iocontext"
)

// Strand serializes handlers on an underlying executor.
type Strand struct {
	ex    iocontext.Executor
	runFn func() // s.run, made once so scheduling a batch allocates nothing

	mu        sync.Mutex
	q         []func() // queued handlers, FIFO; q[head:] are pending
	head      int
	scheduled bool // a batch is posted to ex or running

	owner atomic.Uintptr // gident of the goroutine running a batch, 0 when none
}

// New returns a strand that runs its handlers through ex (a Context or another Strand).
func New(ex iocontext.Executor) *Strand {
	s := &Strand{ex: ex}
	s.runFn = s.run
	return s
}

// Context returns the Context whose runners run the strand's handlers.
func (s *Strand) Context() *iocontext.Context { return s.ex.Context() }

// Post queues h; it runs after every handler posted to s before it, never concurrently
// with another handler of s, and never inside Post.
func (s *Strand) Post(h func()) {
	s.mu.Lock()
	s.q = append(s.q, h)
	if s.scheduled {
		s.mu.Unlock()
		return
	}
	s.scheduled = true
	s.mu.Unlock()
	s.ex.Post(s.runFn)
}

// Defer is Post: a continuation queued after the current handler.
func (s *Strand) Defer(h func()) { s.Post(h) }

// Dispatch runs h at once when called from a handler of s, and otherwise posts it.
func (s *Strand) Dispatch(h func()) {
	if s.RunningInThisStrand() {
		h()
		return
	}
	s.Post(h)
}

// RunningInThisStrand reports whether the caller is a handler of s.
func (s *Strand) RunningInThisStrand() bool {
	return gident.Supported && s.owner.Load() == gident.Current()
}

// Wrap returns a function that dispatches h through s each time it is called.
func (s *Strand) Wrap(h func()) func() { return func() { s.Dispatch(h) } }

// run executes one batch: the handlers queued when it starts. The lock is held only to
// take handlers off the queue, never while one runs.
func (s *Strand) run() {
	s.owner.Store(gident.Current())
	s.mu.Lock()
	end := len(s.q) // handlers queued from now on wait for the next batch
	s.mu.Unlock()
	defer s.finish()
	for {
		s.mu.Lock()
		if s.head >= end {
			s.mu.Unlock()
			return
		}
		h := s.q[s.head]
		s.q[s.head] = nil
		s.head++
		s.mu.Unlock()
		h()
	}
}

// finish ends a batch, also when a handler panicked: the strand schedules its next
// batch if handlers are waiting, so a panic never wedges it.
func (s *Strand) finish() {
	s.owner.Store(0)
	s.mu.Lock()
	if s.head == len(s.q) {
		// Empty: reuse the slice from the start.
		s.q = s.q[:0]
		s.head = 0
		s.scheduled = false
		s.mu.Unlock()
		return
	}
	if s.head > len(s.q)/2 {
		n := copy(s.q, s.q[s.head:])
		clear(s.q[n:])
		s.q = s.q[:n]
		s.head = 0
	}
	s.mu.Unlock()
	s.ex.Post(s.runFn)
}
