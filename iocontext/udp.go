package iocontext

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"

	"github.com/coionet/coio/internal/sys"
	"github.com/coionet/coio/proactor"
	"golang.org/x/sys/unix"
)

// DatagramConn is a datagram socket driven by a Context: UDP over IPv4 or IPv6 (from
// ListenUDP, DialUDP) or a Unix datagram socket (ListenUnixgram, DialUnixgram). One
// receive and one send may be in flight at a time; handlers run exactly once on a
// runner, never inside the starting call. A datagram of length zero is a datagram:
// receives never report io.EOF. All methods are safe for concurrent use.
type DatagramConn struct {
	c    *Context
	netw string
	fd   proactor.FD
	node objNode
	path string // Unix socket file to remove at Close, if this conn created it

	rop, wop           proactor.Op
	rext, wext         proactor.OpExt // the ops' addresses
	rh                 func(int, net.Addr, error)
	wh                 func(int, error)
	receiving, sending atomic.Bool
	closed             atomic.Bool
}

func newDatagram(c *Context, fd int, netw string) (*DatagramConn, error) {
	if c.closed.Load() {
		unix.Close(fd)
		return nil, ErrContextClosed
	}
	d := &DatagramConn{c: c, netw: netw}
	d.rop = proactor.Op{Kind: proactor.OpRecvFrom, FD: &d.fd, Ext: &d.rext, Done: d.recvDone}
	d.wop = proactor.Op{Kind: proactor.OpSendTo, FD: &d.fd, Ext: &d.wext, Done: d.sendDone}
	if err := c.be.Register(&d.fd, fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := c.register(&d.node, d); err != nil {
		c.be.Close(&d.fd)
		return nil, err
	}
	c.openStreams.Add(1)
	return d, nil
}

func udpSocket(network string, a *net.UDPAddr) (int, unix.Sockaddr, error) {
	tnet := map[string]string{"udp": "tcp", "udp4": "tcp4", "udp6": "tcp6"}[network]
	if tnet == "" {
		return -1, nil, net.UnknownNetworkError(network)
	}
	family, sa, dual, err := tcpSockaddr(tnet, &net.TCPAddr{IP: a.IP, Port: a.Port, Zone: a.Zone})
	if err != nil {
		return -1, nil, err
	}
	fd, err := sys.Socket(family, unix.SOCK_DGRAM, 0)
	if err != nil {
		return -1, nil, os.NewSyscallError("socket", err)
	}
	if dual {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	return fd, sa, nil
}

// ListenUDP opens a UDP socket bound to address ("host:port"; port 0 picks one).
func ListenUDP(c *Context, network, address string) (*DatagramConn, error) {
	a, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	fd, sa, err := udpSocket(network, a)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: a, Err: err}
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: network, Addr: a, Err: os.NewSyscallError("bind", err)}
	}
	return newDatagram(c, fd, network)
}

// DialUDP opens a UDP socket connected to address: AsyncSend and AsyncReceive then
// talk to that peer only.
func DialUDP(c *Context, network, address string) (*DatagramConn, error) {
	a, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	fd, sa, err := udpSocket(network, a)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: a, Err: err}
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: network, Addr: a, Err: os.NewSyscallError("connect", err)}
	}
	return newDatagram(c, fd, network)
}

// ListenUnixgram opens a Unix datagram socket bound to path (removed again at Close).
func ListenUnixgram(c *Context, path string) (*DatagramConn, error) {
	fd, err := sys.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: "unixgram", Addr: &net.UnixAddr{Name: path, Net: "unixgram"}, Err: os.NewSyscallError("bind", err)}
	}
	d, err := newDatagram(c, fd, "unixgram")
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	d.path = path
	return d, nil
}

// DialUnixgram opens an unbound Unix datagram socket connected to path.
func DialUnixgram(c *Context, path string) (*DatagramConn, error) {
	fd, err := sys.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: "unixgram", Addr: &net.UnixAddr{Name: path, Net: "unixgram"}, Err: os.NewSyscallError("connect", err)}
	}
	return newDatagram(c, fd, "unixgram")
}

// AsyncReceiveFrom receives one datagram into b and calls h with its length (a longer
// datagram is truncated to len(b)) and its sender.
func (d *DatagramConn) AsyncReceiveFrom(b []byte, h func(n int, from net.Addr, err error)) {
	c := d.c
	if !d.receiving.CompareAndSwap(false, true) {
		c.later(func() { h(0, nil, ErrBusy) })
		return
	}
	c.addWork()
	d.rh = h
	d.rop.Buf = b
	d.rext.Addr = nil
	c.submit(&d.rop)
}

// AsyncReceive receives one datagram from the connected peer.
func (d *DatagramConn) AsyncReceive(b []byte, h func(n int, err error)) {
	d.AsyncReceiveFrom(b, func(n int, _ net.Addr, err error) { h(n, err) })
}

func (d *DatagramConn) recvDone(op *proactor.Op) {
	n, from, err := op.N, d.rext.Addr, op.Err
	op.Buf, d.rext.Addr = nil, nil
	h := d.rh
	d.rh = nil
	d.receiving.Store(false)
	var addr net.Addr
	if from != nil {
		addr = d.toAddr(from)
	}
	h(n, addr, d.mapErr("read", err))
}

// AsyncSendTo sends b as one datagram to addr (a *net.UDPAddr or *net.UnixAddr).
func (d *DatagramConn) AsyncSendTo(b []byte, addr net.Addr, h func(n int, err error)) {
	sa, err := d.sockaddr(addr)
	if err != nil {
		d.c.later(func() { h(0, err) })
		return
	}
	d.send(b, sa, h)
}

// AsyncSend sends b as one datagram to the connected peer.
func (d *DatagramConn) AsyncSend(b []byte, h func(n int, err error)) { d.send(b, nil, h) }

func (d *DatagramConn) send(b []byte, sa unix.Sockaddr, h func(int, error)) {
	c := d.c
	if !d.sending.CompareAndSwap(false, true) {
		c.later(func() { h(0, ErrBusy) })
		return
	}
	c.addWork()
	d.wh = h
	d.wop.Buf, d.wext.Addr = b, sa
	c.submit(&d.wop)
}

func (d *DatagramConn) sendDone(op *proactor.Op) {
	n, err := op.N, op.Err
	op.Buf, d.wext.Addr = nil, nil
	h := d.wh
	d.wh = nil
	d.sending.Store(false)
	h(n, d.mapErr("write", err))
}

func (d *DatagramConn) toAddr(sa unix.Sockaddr) net.Addr {
	a := sockaddrToAddr(sa)
	if t, ok := a.(*net.TCPAddr); ok {
		return &net.UDPAddr{IP: t.IP, Port: t.Port, Zone: t.Zone}
	}
	if u, ok := a.(*net.UnixAddr); ok {
		u.Net = "unixgram"
	}
	return a
}

func (d *DatagramConn) sockaddr(addr net.Addr) (unix.Sockaddr, error) {
	switch a := addr.(type) {
	case *net.UDPAddr:
		netw := "tcp4"
		if a.IP.To4() == nil {
			netw = "tcp6"
		}
		_, sa, _, err := tcpSockaddr(netw, &net.TCPAddr{IP: a.IP, Port: a.Port, Zone: a.Zone})
		if err == nil && d.netw != "udp4" {
			if v4, ok := sa.(*unix.SockaddrInet4); ok && d.isIPv6() {
				// A dual-stack socket reaches IPv4 peers as IPv4-mapped IPv6.
				m := netip.AddrFrom16(netip.AddrFrom4(v4.Addr).As16())
				sa = &unix.SockaddrInet6{Port: v4.Port, Addr: m.As16()}
			}
		}
		return sa, err
	case *net.UnixAddr:
		return &unix.SockaddrUnix{Name: a.Name}, nil
	}
	return nil, &net.OpError{Op: "write", Net: d.netw, Addr: addr, Err: errors.New("unsupported address type")}
}

func (d *DatagramConn) isIPv6() bool {
	var v6 bool
	d.control(func(fd int) error {
		sa, err := unix.Getsockname(fd)
		_, v6 = sa.(*unix.SockaddrInet6)
		return err
	})
	return v6
}

// JoinGroup joins the multicast group on the interface (nil: the system's choice).
func (d *DatagramConn) JoinGroup(ifi *net.Interface, group netip.Addr) error {
	return d.membership(ifi, group, true)
}

// LeaveGroup leaves the multicast group.
func (d *DatagramConn) LeaveGroup(ifi *net.Interface, group netip.Addr) error {
	return d.membership(ifi, group, false)
}

func (d *DatagramConn) membership(ifi *net.Interface, group netip.Addr, join bool) error {
	return d.control(func(fd int) error {
		index := 0
		if ifi != nil {
			index = ifi.Index
		}
		if group.Is4() {
			// ip_mreq names the interface by one of its IPv4 addresses (portable,
			// unlike Linux's ip_mreqn); none means the system's choice.
			mreq := &unix.IPMreq{Multiaddr: group.As4()}
			if ifi != nil {
				if addrs, err := ifi.Addrs(); err == nil {
					for _, a := range addrs {
						if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
							mreq.Interface = [4]byte(n.IP.To4())
							break
						}
					}
				}
			}
			opt := unix.IP_ADD_MEMBERSHIP
			if !join {
				opt = unix.IP_DROP_MEMBERSHIP
			}
			return os.NewSyscallError("setsockopt", unix.SetsockoptIPMreq(fd, unix.IPPROTO_IP, opt, mreq))
		}
		mreq := &unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(index)}
		opt := unix.IPV6_JOIN_GROUP
		if !join {
			opt = unix.IPV6_LEAVE_GROUP
		}
		return os.NewSyscallError("setsockopt", unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, opt, mreq))
	})
}

func (d *DatagramConn) control(fn func(fd int) error) error {
	if !d.fd.Acquire() {
		return net.ErrClosed
	}
	defer d.fd.Release()
	return fn(d.fd.Sysfd)
}

// LocalAddr returns the local address.
func (d *DatagramConn) LocalAddr() net.Addr {
	var a net.Addr
	d.control(func(fd int) error {
		sa, err := unix.Getsockname(fd)
		if err == nil {
			a = d.toAddr(sa)
		}
		return nil
	})
	return a
}

// RemoteAddr returns the connected peer's address, or nil.
func (d *DatagramConn) RemoteAddr() net.Addr {
	var a net.Addr
	d.control(func(fd int) error {
		sa, err := unix.Getpeername(fd)
		if err == nil {
			a = d.toAddr(sa)
		}
		return nil
	})
	return a
}

// Cancel aborts the receive and the send in flight (ErrAborted).
func (d *DatagramConn) Cancel() { d.c.be.Cancel(&d.fd) }

// Close aborts the operations in flight (ErrAborted and net.ErrClosed) and closes the
// socket once nothing uses it; a Unix socket file it created is removed.
func (d *DatagramConn) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	d.c.unregister(&d.node)
	err := d.c.be.Close(&d.fd)
	if err == nil {
		d.c.openStreams.Add(-1)
	}
	if d.path != "" {
		os.Remove(d.path)
	}
	return err
}

func (d *DatagramConn) shutdown() { d.Close() }

func (d *DatagramConn) mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return opError(op, d.netw, d.LocalAddr, nil, err)
}
