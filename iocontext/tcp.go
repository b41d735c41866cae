package iocontext

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/coionet/coio/internal/sys"
	"golang.org/x/sys/unix"
)

// TCPConn is a TCP connection driven by a Context. Its handlers run on the Context's
// runners, exactly once each, never inside the call that started the operation. One
// read and one write may be in flight at a time; reads and writes may overlap.
//
// All methods are safe for concurrent use.
type TCPConn struct {
	stream
}

// NewTCPConn returns an unopened connection on c, to be opened by AsyncConnect or
// TCPListener.AsyncAcceptInto.
func NewTCPConn(c *Context) *TCPConn {
	t := &TCPConn{}
	t.bind(c, "tcp")
	return t
}

// SetNoDelay turns Nagle's algorithm off (true, the default for new connections, as in
// package net) or on.
func (t *TCPConn) SetNoDelay(on bool) error {
	return t.control("set nodelay", func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, boolInt(on))
	})
}

// SetKeepAlive turns TCP keep-alive probes on or off.
func (t *TCPConn) SetKeepAlive(on bool) error {
	return t.control("set keepalive", func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(on))
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// openAccepted opens an accepted or connected TCP descriptor on c.
func (t *TCPConn) openTCP(c *Context, fd int) error {
	if err := t.open(c, fd, "tcp"); err != nil {
		return err
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	return nil
}

// AsyncConnect opens t and connects it to addr; h gets nil or the error. network is
// "tcp", "tcp4" or "tcp6".
func (t *TCPConn) AsyncConnect(network string, addr *net.TCPAddr, h func(err error)) {
	c := t.c
	if !t.reusable() {
		t.later(func() { h(ErrBusy) })
		return
	}
	family, sa, _, err := tcpSockaddr(network, addr)
	if err == nil {
		var fd int
		fd, err = sys.Socket(family, unix.SOCK_STREAM, 0)
		if err == nil {
			err = t.openTCP(c, fd)
		} else {
			err = &net.OpError{Op: "dial", Net: network, Addr: addr, Err: wrapSyscall("socket", err)}
		}
	}
	if err != nil {
		t.later(func() { h(err) })
		return
	}
	t.startConnect(sa, h)
}

// AsyncDialTCP connects to address ("host:port"; a host name is resolved before the
// call returns) and calls h with the open connection or the error.
func AsyncDialTCP(c *Context, network, address string, h func(*TCPConn, error)) {
	addr, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		c.later(func() { h(nil, err) })
		return
	}
	t := NewTCPConn(c)
	t.AsyncConnect(network, addr, func(err error) {
		if err != nil {
			t.Close()
			h(nil, err)
			return
		}
		h(t, nil)
	})
}

// DialTCP connects to address, blocking the calling goroutine until the connection is
// established or fails (no runner is needed), and returns it open on c.
func DialTCP(c *Context, network, address string) (*TCPConn, error) {
	addr, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return nil, err
	}
	family, sa, _, err := tcpSockaddr(network, addr)
	if err != nil {
		return nil, err
	}
	fd, err := blockingConnect(family, sa)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: addr, Err: err}
	}
	t := NewTCPConn(c)
	if err := t.openTCP(c, fd); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: addr, Err: err}
	}
	return t, nil
}

// blockingConnect connects a non-blocking socket and waits for the result with poll(2).
func blockingConnect(family int, sa unix.Sockaddr) (int, error) {
	fd, err := sys.Socket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		return -1, wrapSyscall("socket", err)
	}
	err = unix.Connect(fd, sa)
	for err == unix.EINTR {
		err = unix.Connect(fd, sa)
	}
	if err == unix.EINPROGRESS || err == unix.EALREADY {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		for {
			_, perr := unix.Poll(pfd, -1)
			if perr == unix.EINTR {
				continue
			}
			if perr != nil {
				err = perr
				break
			}
			soerr, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if gerr != nil {
				err = gerr
			} else if soerr != 0 {
				err = unix.Errno(soerr)
			} else {
				err = nil
			}
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, wrapSyscall("connect", err)
	}
	return fd, nil
}

func wrapSyscall(name string, err error) error {
	if errno, ok := err.(unix.Errno); ok {
		return os.NewSyscallError(name, errno)
	}
	return err
}

// ListenOption configures a listener.
type ListenOption func(*listenConfig)

type listenConfig struct {
	backlog   int
	reusePort bool
}

// WithBacklog sets the listen backlog (default 4096; the kernel caps it at
// net.core.somaxconn).
func WithBacklog(n int) ListenOption {
	return func(l *listenConfig) {
		if n > 0 {
			l.backlog = n
		}
	}
}

// WithReusePort sets SO_REUSEPORT, so several listeners (one per Context of a Pool,
// say) can bind the same address and the kernel spreads connections between them.
func WithReusePort(on bool) ListenOption { return func(l *listenConfig) { l.reusePort = on } }

// TCPListener accepts TCP connections on a Context. One accept may be in flight at a
// time. All methods are safe for concurrent use.
type TCPListener struct {
	acceptor
	hConn func(*TCPConn, error) // AsyncAccept's handler
	into  *TCPConn              // AsyncAcceptInto's connection
	hInto func(error)
}

// ListenTCP listens on address ("host:port"; port 0 picks a free one) with
// SO_REUSEADDR set.
func ListenTCP(c *Context, network, address string, opts ...ListenOption) (*TCPListener, error) {
	cfg := listenConfig{backlog: 4096}
	for _, o := range opts {
		o(&cfg)
	}
	addr, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return nil, err
	}
	family, sa, dual, err := tcpSockaddr(network, addr)
	if err != nil {
		return nil, err
	}
	fd, err := sys.Socket(family, unix.SOCK_STREAM, 0)
	if err != nil && dual {
		// No IPv6 on this host: listen on IPv4 only.
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: addr.Port}
		fd, err = sys.Socket(family, unix.SOCK_STREAM, 0)
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: addr, Err: wrapSyscall("socket", err)}
	}
	setup := func() error {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return wrapSyscall("setsockopt", err)
		}
		if cfg.reusePort {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
				return wrapSyscall("setsockopt", err)
			}
		}
		if dual && family == unix.AF_INET6 {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
		}
		if err := unix.Bind(fd, sa); err != nil {
			return wrapSyscall("bind", err)
		}
		if err := unix.Listen(fd, cfg.backlog); err != nil {
			return wrapSyscall("listen", err)
		}
		return nil
	}
	if err := setup(); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: network, Addr: addr, Err: err}
	}
	l := &TCPListener{}
	if err := l.openAcceptor(c, fd, "tcp", l); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: addr, Err: err}
	}
	return l, nil
}

// AsyncAccept accepts one connection and calls h with it (a new TCPConn, with
// TCP_NODELAY set) or with the error. A transient failure (the peer reset the
// connection while it was queued, EINTR) is retried; on another failure, such as the
// process running out of descriptors (EMFILE, ENFILE), h gets the error, and the next
// accept waits a little (growing from 5 ms to 1 s while failures repeat) before trying
// again, so a server that re-arms its accept at once does not spin; the listener
// works normally once descriptors are freed.
//
// h is queued behind every other handler, as any completion is, even when a
// connection was already waiting. A server busy with many connections that accepts
// again from h therefore takes one new connection per round of the queue: a burst of
// 1,000 connections into a server busy with 1,000 others waited up to 5 s that way.
// AsyncAcceptEach is the loop that takes those already waiting (TryAccept) first.
func (l *TCPListener) AsyncAccept(h func(*TCPConn, error)) {
	if !l.begin() {
		l.c.laterVia(l.ex, func() { h(nil, ErrBusy) })
		return
	}
	l.hConn, l.into, l.hInto = h, nil, nil
	l.submit()
}

// TryAccept accepts a connection now, on the calling goroutine, if one is waiting: it
// returns what AsyncAccept's handler would get, or (nil, ErrWouldBlock) when the
// accept would have to wait. With it a listener under load takes the connections
// waiting for it in one turn rather than one per round of the runners' queues: an
// accept loop of handlers calls it before it accepts again, and package coroutine's
// Accept is built on it. It fails with ErrBusy while an AsyncAccept is in flight.
// After descriptor exhaustion it reports ErrWouldBlock until the back-off that
// AsyncAccept waits out ends.
func (l *TCPListener) TryAccept() (*TCPConn, error) {
	fd, err := l.tryAccept()
	if err != nil {
		return nil, err
	}
	conn := NewTCPConn(l.c)
	if err := conn.openTCP(l.c, fd); err != nil {
		return nil, openErr(err)
	}
	return conn, nil
}

// TryAcceptInto is TryAccept into conn, which must be unopened (from NewTCPConn) or
// closed with nothing in flight, as for AsyncAcceptInto: an accept loop that reuses
// its connections drains the waiting ones without allocating. It returns ErrBusy for
// a conn that is still open.
func (l *TCPListener) TryAcceptInto(conn *TCPConn) error {
	if !conn.reusable() {
		return ErrBusy
	}
	fd, err := l.tryAccept()
	if err != nil {
		return err
	}
	return openErr(conn.openTCP(l.c, fd))
}

// AsyncAcceptInto accepts one connection into conn, which must be unopened (from
// NewTCPConn) or closed with nothing in flight, and calls h. Reusing one TCPConn this
// way accepts without allocating, as Asio's async_accept(socket, handler) does.
func (l *TCPListener) AsyncAcceptInto(conn *TCPConn, h func(error)) {
	if !conn.reusable() || !l.begin() {
		l.c.laterVia(l.ex, func() { h(ErrBusy) })
		return
	}
	conn.bind(l.c, "tcp")
	l.hConn, l.into, l.hInto = nil, conn, h
	l.submit()
}

// accepted delivers one accept result.
func (l *TCPListener) accepted(fd int, err error) {
	if conn := l.into; conn != nil {
		h := l.hInto
		l.into, l.hInto = nil, nil
		if err == nil {
			err = openErr(conn.openTCP(l.c, fd))
		}
		l.end()
		h(err)
		return
	}
	h := l.hConn
	l.hConn = nil
	var conn *TCPConn
	if err == nil {
		conn = NewTCPConn(l.c)
		if err = openErr(conn.openTCP(l.c, fd)); err != nil {
			conn = nil
		}
	}
	l.end()
	h(conn, err)
}

// Addr returns the address the listener is bound to.
func (l *TCPListener) Addr() net.Addr { return l.addr }

// String describes the listener.
func (l *TCPListener) String() string { return fmt.Sprintf("TCPListener(%v)", l.addr) }

// backoff bounds for accept retries after EMFILE/ENFILE.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)
