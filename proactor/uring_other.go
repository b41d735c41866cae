//go:build !linux

package proactor

import "errors"

// openUring reports that io_uring does not exist here.
func openUring(sink Sink, locked bool) (Backend, string, error) {
	return nil, "", errors.New("io_uring is Linux only")
}

// uringRecv is the io_uring backend's per-descriptor state, which FD carries.
type uringRecv struct{}
