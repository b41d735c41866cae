package iocontext

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/panjf2000/ants/v2"
)

// offloadJob is one Offload: the blocking function and the handler that follows it.
type offloadJob struct {
	fn func()
	h  func(error)
}

// offloader runs blocking work on a bounded ants pool. A job that finds every worker
// busy is queued, never dropped and never blocks the caller: the next worker to finish
// takes it.
type offloader struct {
	size int

	mu      sync.Mutex
	pool    *ants.Pool // made on first use
	running int        // jobs running on the pool
	queue   []offloadJob
	closed  bool
	idle    *sync.Cond // signalled when running drops to 0
}

// WithOffloadPool sets how many blocking functions Offload runs at once (default
// 4×GOMAXPROCS); more wait in a queue.
func WithOffloadPool(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.offload = n
		}
	}
}

// Offload runs fn on a goroutine of the Context's bounded pool — for blocking work
// such as a DNS lookup or a file read, which must not hold a runner — and then h on a
// runner: with nil, or with ErrAborted when the Context was closed before fn started
// (fn then never runs). Offloaded work is outstanding work until h has run. When the
// pool is busy, fn waits in a FIFO queue; Stats reports both.
func (c *Context) Offload(fn func(), h func(err error)) {
	c.addWork()
	o := &c.offload
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		c.push(task{fn: func() { h(ErrAborted) }})
		return
	}
	job := offloadJob{fn: fn, h: h}
	if o.running >= o.size {
		o.queue = append(o.queue, job)
		o.mu.Unlock()
		return
	}
	if o.pool == nil {
		// The pool is never full: running never exceeds size.
		p, err := ants.NewPool(o.size, ants.WithNonblocking(true), ants.WithExpiryDuration(10*time.Second))
		if err != nil {
			o.mu.Unlock()
			c.push(task{fn: func() { h(err) }})
			return
		}
		o.pool = p
	}
	o.running++
	o.mu.Unlock()
	if err := o.pool.Submit(func() { c.offloadWorker(job) }); err != nil {
		o.mu.Lock()
		o.running--
		o.mu.Unlock()
		c.push(task{fn: func() { h(err) }})
	}
}

// offloadWorker runs job, then queued jobs while there are any.
func (c *Context) offloadWorker(job offloadJob) {
	o := &c.offload
	for {
		job.fn()
		h := job.h
		c.push(task{fn: func() { h(nil) }})
		o.mu.Lock()
		if len(o.queue) == 0 || o.closed {
			o.running--
			if o.running == 0 && o.idle != nil {
				o.idle.Broadcast()
			}
			o.mu.Unlock()
			return
		}
		job = o.queue[0]
		o.queue[0] = offloadJob{}
		o.queue = o.queue[1:]
		o.mu.Unlock()
	}
}

// shutdown aborts the queued jobs, waits for the running ones and releases the pool.
func (o *offloader) shutdown(c *Context) {
	o.mu.Lock()
	o.closed = true
	queued := o.queue
	o.queue = nil
	if o.idle == nil {
		o.idle = sync.NewCond(&o.mu)
	}
	for o.running > 0 {
		o.idle.Wait()
	}
	pool := o.pool
	o.pool = nil
	o.mu.Unlock()
	for _, j := range queued {
		h := j.h
		c.push(task{fn: func() { h(ErrAborted) }})
	}
	if pool != nil {
		pool.ReleaseTimeout(5 * time.Second)
	}
}

// offloadStats returns the jobs running and queued now.
func (o *offloader) stats() (running, queued int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.running, len(o.queue)
}

func defaultOffloadSize() int { return 4 * runtime.GOMAXPROCS(0) }

// Resolve looks up host's addresses with the system resolver, blocking the caller.
func Resolve(host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
}

// AsyncResolve looks host up on the Context's offload pool and calls h with the
// addresses (or the error) on a runner.
func AsyncResolve(c *Context, host string, h func([]netip.Addr, error)) {
	var addrs []netip.Addr
	var err error
	c.Offload(func() { addrs, err = Resolve(host) }, func(aerr error) {
		if aerr != nil {
			h(nil, aerr)
			return
		}
		h(addrs, err)
	})
}
