package proactor

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The io_uring backend hands socket addresses to the kernel in their raw form, which
// x/sys/unix does not export; these convert between the two for the families coio
// uses.

var errFamily = errors.New("proactor: unsupported socket address family")

// putPort stores port in network byte order.
func putPort(p *uint16, port int) {
	b := (*[2]byte)(unsafe.Pointer(p)) // a uint16 is two bytes
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(p *uint16) int {
	b := (*[2]byte)(unsafe.Pointer(p))
	return int(b[0])<<8 | int(b[1])
}

// toRaw writes sa into raw and returns its length.
func toRaw(sa unix.Sockaddr, raw *unix.RawSockaddrAny) (uint32, error) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		// RawSockaddrAny is large enough for every family it is cast to here.
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		*r = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Addr}
		putPort(&r.Port, a.Port)
		return unix.SizeofSockaddrInet4, nil
	case *unix.SockaddrInet6:
		r := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		*r = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.Addr, Scope_id: a.ZoneId}
		putPort(&r.Port, a.Port)
		return unix.SizeofSockaddrInet6, nil
	case *unix.SockaddrUnix:
		r := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
		*r = unix.RawSockaddrUnix{Family: unix.AF_UNIX}
		name := a.Name
		if len(name) > len(r.Path) || (len(name) == len(r.Path) && name[0] != '@') {
			return 0, unix.EINVAL
		}
		for i := 0; i < len(name); i++ {
			r.Path[i] = int8(name[i])
		}
		n := uint32(2)
		if len(name) > 0 {
			n += uint32(len(name)) + 1 // pathname: count the terminating NUL
		}
		if len(name) > 0 && name[0] == '@' {
			r.Path[0] = 0 // abstract: a leading NUL, no terminating one
			n--
		}
		return n, nil
	}
	return 0, errFamily
}

// fromRaw converts the n-byte raw address into a Sockaddr (nil when unnamed).
func fromRaw(raw *unix.RawSockaddrAny, n uint32) unix.Sockaddr {
	if n < 2 {
		return nil
	}
	switch raw.Addr.Family {
	case unix.AF_INET:
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		return &unix.SockaddrInet4{Port: getPort(&r.Port), Addr: r.Addr}
	case unix.AF_INET6:
		r := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		return &unix.SockaddrInet6{Port: getPort(&r.Port), Addr: r.Addr, ZoneId: r.Scope_id}
	case unix.AF_UNIX:
		r := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
		plen := int(n) - 2
		if plen <= 0 {
			return &unix.SockaddrUnix{}
		}
		plen = min(plen, len(r.Path))
		b := make([]byte, 0, plen)
		if r.Path[0] == 0 { // abstract
			b = append(b, '@')
			for _, c := range r.Path[1:plen] {
				b = append(b, byte(c))
			}
		} else {
			for _, c := range r.Path[:plen] {
				if c == 0 {
					break
				}
				b = append(b, byte(c))
			}
		}
		return &unix.SockaddrUnix{Name: string(b)}
	}
	return nil
}
