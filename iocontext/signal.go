package iocontext

import (
	"os"
	"os/signal"
	"sync"
)

// SignalSet waits for process signals on a Context, as Asio's signal_set does: a signal
// that arrives while no wait is pending is queued for the next AsyncWait, and every set
// that contains a signal receives it (several sets, several components). Handlers run
// on the Context's runners, never inside the call that started the wait. A pending
// wait is outstanding work.
//
// The signals are received through os/signal (signal.Notify), so the default action of
// a signal in a set (terminating the process for SIGINT and SIGTERM) is suppressed
// while the set exists. All methods are safe for concurrent use.
type SignalSet struct {
	c    *Context
	node objNode

	mu      sync.Mutex
	sigs    map[os.Signal]bool
	queued  []os.Signal              // arrived with no wait pending
	waiters []func(os.Signal, error) // pending waits, FIFO
	closed  bool

	ch   chan os.Signal // signal.Notify's channel
	done chan struct{}  // closed by Close: stops the forwarder
	wg   sync.WaitGroup
}

// NewSignalSet returns a set of the given signals on c.
func NewSignalSet(c *Context, sigs ...os.Signal) (*SignalSet, error) {
	s := &SignalSet{c: c, sigs: map[os.Signal]bool{}, ch: make(chan os.Signal, 64), done: make(chan struct{})}
	if err := c.register(&s.node, s); err != nil {
		return nil, err
	}
	for _, sig := range sigs {
		s.sigs[sig] = true
	}
	if len(sigs) > 0 {
		signal.Notify(s.ch, sigs...)
	}
	s.wg.Add(1)
	go s.forward()
	return s, nil
}

// forward hands arriving signals to a pending wait or queues them.
func (s *SignalSet) forward() {
	defer s.wg.Done()
	for {
		select {
		case sig := <-s.ch:
			s.mu.Lock()
			if !s.sigs[sig] {
				s.mu.Unlock()
				continue // removed while in flight
			}
			if len(s.waiters) > 0 {
				h := s.waiters[0]
				s.waiters = s.waiters[1:]
				s.mu.Unlock()
				s.c.push(task{fn: func() { h(sig, nil) }}) // the wait's unit of work
				continue
			}
			s.queued = append(s.queued, sig)
			s.mu.Unlock()
		case <-s.done:
			return
		}
	}
}

// Add adds sig to the set.
func (s *SignalSet) Add(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrContextClosed
	}
	if !s.sigs[sig] {
		s.sigs[sig] = true
		signal.Notify(s.ch, sig)
	}
	return nil
}

// Remove removes sig from the set; queued occurrences of it are dropped.
func (s *SignalSet) Remove(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrContextClosed
	}
	if !s.sigs[sig] {
		return nil
	}
	delete(s.sigs, sig)
	signal.Stop(s.ch)
	for other := range s.sigs {
		signal.Notify(s.ch, other)
	}
	kept := s.queued[:0]
	for _, q := range s.queued {
		if q != sig {
			kept = append(kept, q)
		}
	}
	s.queued = kept
	return nil
}

// AsyncWait waits for the next signal of the set (or takes the oldest queued one) and
// calls h with it; h gets ErrAborted when the wait is cancelled or the set closed.
func (s *SignalSet) AsyncWait(h func(sig os.Signal, err error)) {
	c := s.c
	c.addWork()
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		c.push(task{fn: func() { h(nil, ErrAborted) }})
	case len(s.queued) > 0:
		sig := s.queued[0]
		s.queued = s.queued[1:]
		s.mu.Unlock()
		c.push(task{fn: func() { h(sig, nil) }})
	default:
		s.waiters = append(s.waiters, h)
		s.mu.Unlock()
	}
}

// Cancel aborts every pending wait (each gets ErrAborted) and returns how many.
func (s *SignalSet) Cancel() int {
	s.mu.Lock()
	w := s.waiters
	s.waiters = nil
	s.mu.Unlock()
	for _, h := range w {
		s.c.push(task{fn: func() { h(nil, ErrAborted) }})
	}
	return len(w)
}

// Close stops receiving signals (their default actions are restored when no other set
// or Notify wants them), aborts the pending waits and ends the set's goroutine.
func (s *SignalSet) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrContextClosed
	}
	s.closed = true
	s.mu.Unlock()
	s.c.unregister(&s.node)
	signal.Stop(s.ch)
	close(s.done)
	s.wg.Wait()
	s.Cancel()
	return nil
}

func (s *SignalSet) shutdown() { s.Close() }
