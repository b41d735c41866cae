package iocontext

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// tcpSockaddr converts a TCP address into a socket family and sockaddr. An unspecified
// address on network "tcp" becomes a dual-stack IPv6 socket, as in package net.
func tcpSockaddr(network string, a *net.TCPAddr) (family int, sa unix.Sockaddr, dualStack bool, err error) {
	ip := a.IP
	switch network {
	case "tcp4":
		if ip == nil {
			ip = net.IPv4zero
		}
		ip4 := ip.To4()
		if ip4 == nil {
			return 0, nil, false, fmt.Errorf("iocontext: %s is not an IPv4 address", ip)
		}
		return unix.AF_INET, &unix.SockaddrInet4{Port: a.Port, Addr: [4]byte(ip4)}, false, nil
	case "tcp6":
		if ip == nil {
			ip = net.IPv6unspecified
		}
		if ip.To4() != nil && len(ip) == net.IPv4len {
			return 0, nil, false, fmt.Errorf("iocontext: %s is not an IPv6 address", ip)
		}
		return unix.AF_INET6, inet6(ip, a.Port, a.Zone), false, nil
	case "tcp":
		if ip == nil || ip.IsUnspecified() {
			return unix.AF_INET6, inet6(net.IPv6unspecified, a.Port, ""), true, nil
		}
		if ip4 := ip.To4(); ip4 != nil {
			return unix.AF_INET, &unix.SockaddrInet4{Port: a.Port, Addr: [4]byte(ip4)}, false, nil
		}
		return unix.AF_INET6, inet6(ip, a.Port, a.Zone), false, nil
	}
	return 0, nil, false, net.UnknownNetworkError(network)
}

func inet6(ip net.IP, port int, zone string) *unix.SockaddrInet6 {
	sa := &unix.SockaddrInet6{Port: port, Addr: [16]byte(ip.To16())}
	if zone != "" {
		if ifi, err := net.InterfaceByName(zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa
}

// sockaddrToAddr converts a kernel socket address into a net.Addr.
func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)))
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a = a.WithZone(ifi.Name)
			}
		}
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(sa.Port)))
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}
