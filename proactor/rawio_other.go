//go:build !linux

package proactor

import "golang.org/x/sys/unix"

// sysRead and sysWrite are the reactive backend's socket transfers (see
// rawio_linux.go); elsewhere they are x/sys/unix's, which call the C library where
// the system wants that.
func sysRead(fd int, b []byte) (int, error) { return unix.Read(fd, b) }

func sysWrite(fd int, b []byte) (int, error) { return unix.Write(fd, b) }
