package iocontext

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// Pool is a set of Contexts, each run by its own goroutine, for users who want a
// connection pinned to one runner for its whole life (the io_context-per-core design).
// Next hands out the Contexts round-robin. A single Context run by several goroutines
// balances load across them instead; bench/ compares the two.
type Pool struct {
	ctxs  []*Context
	next  atomic.Uint32
	wg    sync.WaitGroup
	guard []*WorkGuard
	mu    sync.Mutex
	errs  []error
}

// NewPool creates n Contexts (n <= 0: GOMAXPROCS) with the given options.
func NewPool(n int, opts ...Option) (*Pool, error) {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{}
	for i := 0; i < n; i++ {
		c, err := New(opts...)
		if err != nil {
			for _, c := range p.ctxs {
				c.Close()
			}
			return nil, err
		}
		p.ctxs = append(p.ctxs, c)
	}
	return p, nil
}

// Next returns the next Context, round-robin.
func (p *Pool) Next() *Context {
	i := p.next.Add(1) - 1
	return p.ctxs[int(i)%len(p.ctxs)]
}

// Contexts returns the Pool's Contexts.
func (p *Pool) Contexts() []*Context { return p.ctxs }

// Start runs each Context on its own goroutine, holding a work guard on each so that
// they keep running while idle, until Stop. A handler panic stops the Context it
// happened on and is reported by Wait.
func (p *Pool) Start() {
	for _, c := range p.ctxs {
		p.guard = append(p.guard, NewWorkGuard(c))
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() {
				if v := recover(); v != nil {
					err, ok := v.(error)
					if !ok {
						err = &PanicError{Value: v}
					}
					p.mu.Lock()
					p.errs = append(p.errs, err)
					p.mu.Unlock()
				}
			}()
			c.Run()
		}()
	}
}

// Stop releases the work guards and stops every Context.
func (p *Pool) Stop() {
	for _, g := range p.guard {
		g.Reset()
	}
	for _, c := range p.ctxs {
		c.Stop()
	}
}

// Wait waits for the run goroutines to return and reports handler panics.
func (p *Pool) Wait() error {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}

// Close stops the Pool, waits for it and closes every Context.
func (p *Pool) Close() error {
	p.Stop()
	err := p.Wait()
	for _, c := range p.ctxs {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}
