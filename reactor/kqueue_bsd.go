//go:build darwin || freebsd || netbsd || openbsd

package reactor

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Poller is a readiness demultiplexer over kqueue.
//
// kqueue's udata is a pointer on most BSDs, and a token that is not a Go pointer must
// not be stored in a pointer-typed field the garbage collector scans, so the tokens live
// in a table indexed by fd and events are reported by ident.
type Poller struct {
	kq      int
	waker   waker             // EVFILT_USER or a self-pipe, per platform
	pending atomic.Bool       // a Wake is outstanding: later Wakes skip the syscall
	closed  atomic.Bool       // Close was called
	mu      sync.Mutex        // guards tokens
	tokens  map[uint64]uint64 // fd → token
	raw     []unix.Kevent_t   // Wait's buffer, owned by the single waiting goroutine
}

// New creates a Poller.
func New() (*Poller, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, fmt.Errorf("reactor: kqueue: %w", err)
	}
	unix.CloseOnExec(kq)
	p := &Poller{kq: kq, tokens: make(map[uint64]uint64)}
	if err := p.waker.init(kq); err != nil {
		unix.Close(kq)
		return nil, err
	}
	return p, nil
}

// change adds the filters in add and deletes those in del, one kevent call each, so
// that deleting a filter that was never added (ENOENT) does not hide another change.
func (p *Poller) change(fd int, add, del Events) error {
	filters := [2]struct {
		filter int
		ev     Events
	}{{unix.EVFILT_READ, Readable}, {unix.EVFILT_WRITE, Writable}}
	for _, f := range filters {
		var flags int
		switch {
		case add&f.ev != 0:
			flags = unix.EV_ADD | unix.EV_CLEAR
		case del&f.ev != 0:
			flags = unix.EV_DELETE
		default:
			continue
		}
		var ch [1]unix.Kevent_t
		unix.SetKevent(&ch[0], fd, f.filter, flags)
		if _, err := unix.Kevent(p.kq, ch[:], nil, nil); err != nil && err != unix.ENOENT {
			return fmt.Errorf("reactor: kevent(fd %d): %w", fd, err)
		}
	}
	return nil
}

// Add registers fd, edge-triggered (EV_CLEAR), for the conditions in ev.
func (p *Poller) Add(fd int, token uint64, ev Events) error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.mu.Lock()
	p.tokens[uint64(fd)] = token
	p.mu.Unlock()
	return p.change(fd, ev, 0)
}

// Modify changes the token and conditions of a registered fd.
func (p *Poller) Modify(fd int, token uint64, ev Events) error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.mu.Lock()
	p.tokens[uint64(fd)] = token
	p.mu.Unlock()
	return p.change(fd, ev, (Readable|Writable)&^ev)
}

// Remove unregisters fd.
func (p *Poller) Remove(fd int) error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.mu.Lock()
	delete(p.tokens, uint64(fd))
	p.mu.Unlock()
	return p.change(fd, 0, Readable|Writable)
}

// Wait blocks until some registered fd is ready, Wake is called, or timeout passes
// (negative: for ever; zero: only poll). A wake-up or an interrupted wait returns 0.
func (p *Poller) Wait(events []Event, timeout time.Duration) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	if len(events) == 0 {
		return 0, nil
	}
	if cap(p.raw) < len(events) {
		p.raw = make([]unix.Kevent_t, len(events))
	}
	raw := p.raw[:len(events)]
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	n, err := unix.Kevent(p.kq, nil, raw, ts)
	if err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, fmt.Errorf("reactor: kevent wait: %w", err)
	}
	out := 0
	p.mu.Lock()
	for i := 0; i < n; i++ {
		e := &raw[i]
		if p.waker.is(e) {
			p.waker.drain()
			p.pending.Store(false)
			continue
		}
		token, ok := p.tokens[e.Ident]
		if !ok {
			continue // removed since the kernel queued the event
		}
		var ev Events
		switch int(e.Filter) {
		case unix.EVFILT_READ:
			ev = Readable
		case unix.EVFILT_WRITE:
			ev = Writable
		}
		if e.Flags&(unix.EV_EOF|unix.EV_ERROR) != 0 {
			ev |= Hangup
		}
		events[out] = Event{Token: token, Events: ev}
		out++
	}
	p.mu.Unlock()
	return out, nil
}

// Wake makes a current or the next Wait return; it costs a syscall only when no
// wake-up is already pending.
func (p *Poller) Wake() error {
	if !p.pending.CompareAndSwap(false, true) {
		return nil
	}
	if p.closed.Load() {
		return ErrClosed
	}
	return p.waker.wake(p.kq)
}

// Close releases the poller. Registered fds are not closed.
func (p *Poller) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	p.waker.close()
	return unix.Close(p.kq)
}
