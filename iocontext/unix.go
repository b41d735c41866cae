package iocontext

import (
	"net"
	"os"

	"github.com/coionet/coio/internal/sys"
	"golang.org/x/sys/unix"
)

// UnixConn is a Unix-domain stream connection driven by a Context; it behaves as
// TCPConn does. All methods are safe for concurrent use.
type UnixConn struct {
	stream
}

// NewUnixConn returns an unopened connection on c, to be opened by AsyncConnect or
// UnixListener.AsyncAcceptInto.
func NewUnixConn(c *Context) *UnixConn {
	u := &UnixConn{}
	u.bind(c, "unix")
	return u
}

// AsyncConnect opens u and connects it to the socket at path.
func (u *UnixConn) AsyncConnect(path string, h func(err error)) {
	c := u.c
	if !u.reusable() {
		u.later(func() { h(ErrBusy) })
		return
	}
	fd, err := sys.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		err = u.open(c, fd, "unix")
	} else {
		err = &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: path, Net: "unix"}, Err: wrapSyscall("socket", err)}
	}
	if err != nil {
		u.later(func() { h(err) })
		return
	}
	u.startConnect(&unix.SockaddrUnix{Name: path}, h)
}

// AsyncDialUnix connects to the socket at path and calls h with the open connection or
// the error.
func AsyncDialUnix(c *Context, path string, h func(*UnixConn, error)) {
	u := NewUnixConn(c)
	u.AsyncConnect(path, func(err error) {
		if err != nil {
			u.Close()
			h(nil, err)
			return
		}
		h(u, nil)
	})
}

// DialUnix connects to the socket at path, blocking the calling goroutine, and returns
// the connection open on c.
func DialUnix(c *Context, path string) (*UnixConn, error) {
	addr := &net.UnixAddr{Name: path, Net: "unix"}
	fd, err := blockingConnect(unix.AF_UNIX, &unix.SockaddrUnix{Name: path})
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "unix", Addr: addr, Err: err}
	}
	u := NewUnixConn(c)
	if err := u.open(c, fd, "unix"); err != nil {
		return nil, &net.OpError{Op: "dial", Net: "unix", Addr: addr, Err: err}
	}
	return u, nil
}

// UnixListener accepts Unix-domain stream connections on a Context. Close removes the
// socket file it created.
type UnixListener struct {
	acceptor
	path  string
	hConn func(*UnixConn, error)
	into  *UnixConn
	hInto func(error)
}

// ListenUnix listens on the socket file path, which must not exist.
func ListenUnix(c *Context, path string, opts ...ListenOption) (*UnixListener, error) {
	cfg := listenConfig{backlog: 4096}
	for _, o := range opts {
		o(&cfg)
	}
	addr := &net.UnixAddr{Name: path, Net: "unix"}
	fd, err := sys.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "unix", Addr: addr, Err: wrapSyscall("socket", err)}
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: "unix", Addr: addr, Err: wrapSyscall("bind", err)}
	}
	if err := unix.Listen(fd, cfg.backlog); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return nil, &net.OpError{Op: "listen", Net: "unix", Addr: addr, Err: wrapSyscall("listen", err)}
	}
	l := &UnixListener{path: path}
	if err := l.openAcceptor(c, fd, "unix", l); err != nil {
		os.Remove(path)
		return nil, &net.OpError{Op: "listen", Net: "unix", Addr: addr, Err: err}
	}
	l.addr = addr
	return l, nil
}

// AsyncAccept accepts one connection and calls h with it or with the error; see
// TCPListener.AsyncAccept for the handling of descriptor exhaustion, and for why an
// accept loop takes the connections already waiting (TryAccept, AsyncAcceptEach)
// before it accepts again.
func (l *UnixListener) AsyncAccept(h func(*UnixConn, error)) {
	if !l.begin() {
		l.c.laterVia(l.ex, func() { h(nil, ErrBusy) })
		return
	}
	l.hConn, l.into, l.hInto = h, nil, nil
	l.submit()
}

// TryAccept accepts a connection now, on the calling goroutine, if one is waiting, as
// TCPListener.TryAccept does: (nil, ErrWouldBlock) when the accept would have to wait,
// ErrBusy while an AsyncAccept is in flight.
func (l *UnixListener) TryAccept() (*UnixConn, error) {
	fd, err := l.tryAccept()
	if err != nil {
		return nil, err
	}
	conn := NewUnixConn(l.c)
	if err := conn.open(l.c, fd, "unix"); err != nil {
		return nil, openErr(err)
	}
	return conn, nil
}

// TryAcceptInto is TryAccept into conn (unopened, or closed with nothing in flight),
// without allocating; ErrBusy for a conn that is still open.
func (l *UnixListener) TryAcceptInto(conn *UnixConn) error {
	if !conn.reusable() {
		return ErrBusy
	}
	fd, err := l.tryAccept()
	if err != nil {
		return err
	}
	return openErr(conn.open(l.c, fd, "unix"))
}

// AsyncAcceptInto accepts one connection into conn (unopened, or closed with nothing
// in flight) without allocating.
func (l *UnixListener) AsyncAcceptInto(conn *UnixConn, h func(error)) {
	if !conn.reusable() || !l.begin() {
		l.c.laterVia(l.ex, func() { h(ErrBusy) })
		return
	}
	conn.bind(l.c, "unix")
	l.hConn, l.into, l.hInto = nil, conn, h
	l.submit()
}

func (l *UnixListener) accepted(fd int, err error) {
	if conn := l.into; conn != nil {
		h := l.hInto
		l.into, l.hInto = nil, nil
		if err == nil {
			err = openErr(conn.open(l.c, fd, "unix"))
		}
		l.end()
		h(err)
		return
	}
	h := l.hConn
	l.hConn = nil
	var conn *UnixConn
	if err == nil {
		conn = NewUnixConn(l.c)
		if err = openErr(conn.open(l.c, fd, "unix")); err != nil {
			conn = nil
		}
	}
	l.end()
	h(conn, err)
}

// Close stops listening, aborts the accept in flight and removes the socket file.
func (l *UnixListener) Close() error {
	err := l.acceptor.Close()
	if err == nil {
		os.Remove(l.path)
	}
	return err
}

func (l *UnixListener) shutdown() { l.Close() }
