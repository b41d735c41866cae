package reactor

import (
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// wakeToken marks the poller's own eventfd; registrations use tokens whose low 32 bits
// are an fd number, and no fd is 2^32-1.
const wakeToken = ^uint64(0)

// wakeOne is what Wake writes to the eventfd: a counter of 1 in either byte order is
// nonzero. It is a package variable, only ever read, so that concurrent Wakes neither
// allocate nor race on a buffer.
var wakeOne = [8]byte{1}

// Poller is a readiness demultiplexer over epoll.
type Poller struct {
	epfd    int
	wakefd  int               // eventfd written by Wake
	pending atomic.Bool       // a Wake is written and not yet consumed: later Wakes skip the syscall
	closed  atomic.Bool       // Close was called
	raw     []unix.EpollEvent // Wait's buffer, owned by the single waiting goroutine
	rbuf    [8]byte           // drainWake's buffer (the single waiter's)
}

// New creates a Poller.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("reactor: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("reactor: eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd}
	if err := p.ctl(unix.EPOLL_CTL_ADD, wakefd, wakeToken, Readable); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, err
	}
	return p, nil
}

func (p *Poller) ctl(op, fd int, token uint64, ev Events) error {
	var e unix.EpollEvent
	e.Events = unix.EPOLLET | unix.EPOLLRDHUP
	if ev&Readable != 0 {
		e.Events |= unix.EPOLLIN | unix.EPOLLPRI // PRI: see Urgent
	}
	if ev&Writable != 0 {
		e.Events |= unix.EPOLLOUT
	}
	// The 64-bit epoll_data is split by x/sys into Fd and Pad.
	e.Fd = int32(uint32(token))
	e.Pad = int32(uint32(token >> 32))
	if err := unix.EpollCtl(p.epfd, op, fd, &e); err != nil {
		return fmt.Errorf("reactor: epoll_ctl(fd %d): %w", fd, err)
	}
	return nil
}

// Add registers fd, edge-triggered, for the conditions in ev; events carry token.
func (p *Poller) Add(fd int, token uint64, ev Events) error {
	if p.closed.Load() {
		return ErrClosed
	}
	return p.ctl(unix.EPOLL_CTL_ADD, fd, token, ev)
}

// Modify changes the token and conditions of a registered fd.
func (p *Poller) Modify(fd int, token uint64, ev Events) error {
	if p.closed.Load() {
		return ErrClosed
	}
	return p.ctl(unix.EPOLL_CTL_MOD, fd, token, ev)
}

// Remove unregisters fd. Closing an fd also unregisters it, unless the open file is
// shared with another descriptor (dup, fork).
func (p *Poller) Remove(fd int) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return fmt.Errorf("reactor: epoll_ctl(DEL, fd %d): %w", fd, err)
	}
	return nil
}

// Wait blocks until some registered fd is ready, Wake is called, or timeout passes
// (a negative timeout waits for ever, zero only polls). It fills events and returns how
// many it filled; a wake-up or an interrupted wait returns 0 and no error.
func (p *Poller) Wait(events []Event, timeout time.Duration) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	if len(events) == 0 {
		return 0, nil
	}
	if cap(p.raw) < len(events) {
		p.raw = make([]unix.EpollEvent, len(events))
	}
	raw := p.raw[:len(events)]
	msec := -1
	if timeout >= 0 {
		// Round up so that a wait for 0.5 ms does not turn into a busy poll.
		msec = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	n, err := unix.EpollWait(p.epfd, raw, msec)
	if err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, fmt.Errorf("reactor: epoll_wait: %w", err)
	}
	out := 0
	for i := 0; i < n; i++ {
		e := &raw[i]
		token := uint64(uint32(e.Fd)) | uint64(uint32(e.Pad))<<32
		if token == wakeToken {
			p.drainWake()
			continue
		}
		var ev Events
		if e.Events&(unix.EPOLLIN|unix.EPOLLPRI) != 0 {
			ev |= Readable
		}
		if e.Events&unix.EPOLLPRI != 0 {
			ev |= Urgent
		}
		if e.Events&unix.EPOLLOUT != 0 {
			ev |= Writable
		}
		if e.Events&(unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLRDHUP) != 0 {
			ev |= Hangup | Readable | Writable
		}
		events[out] = Event{Token: token, Events: ev}
		out++
	}
	return out, nil
}

// drainWake consumes the eventfd, then allows the next Wake to write again. The order
// matters: a Wake that finds pending still set skips its write, and that is safe only
// because this Wait has not returned yet, so its caller will look at the work the waker
// published before calling Wake.
func (p *Poller) drainWake() {
	// The buffers live in the Poller: a local array would escape to the heap (the
	// race detector's annotations of read and write take its address).
	for {
		_, err := unix.Read(p.wakefd, p.rbuf[:])
		if err != unix.EINTR {
			break
		}
	}
	p.pending.Store(false)
}

// Wake makes a current or the next Wait return. It costs a syscall only when no wake-up
// is already pending.
func (p *Poller) Wake() error {
	if !p.pending.CompareAndSwap(false, true) {
		return nil
	}
	if p.closed.Load() {
		return ErrClosed
	}
	for {
		_, err := unix.Write(p.wakefd, wakeOne[:])
		switch err {
		case nil, unix.EAGAIN: // EAGAIN: the counter is saturated, a wake-up is pending anyway
			return nil
		case unix.EINTR:
			continue
		default:
			return fmt.Errorf("reactor: eventfd write: %w", err)
		}
	}
}

// Close releases the poller. Registered fds are not closed.
func (p *Poller) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	unix.Close(p.wakefd)
	return unix.Close(p.epfd)
}
