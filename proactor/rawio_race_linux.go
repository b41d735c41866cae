//go:build linux && race

package proactor

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Under the race detector the raw transfers tell it what x/sys/unix's Read and Write
// would: a read writes its buffer, a write reads its buffer, so that a handler's
// goroutine touching a buffer while a backend's syscall uses it is reported.

func raceReadDone(b []byte, n int) {
	if n > 0 {
		// b[:n] was written by the kernel on this goroutine's behalf.
		runtime.RaceWriteRange(unsafe.Pointer(&b[0]), n)
	}
}

func raceWriting(b []byte) {
	if len(b) > 0 {
		runtime.RaceReadRange(unsafe.Pointer(&b[0]), len(b))
	}
}

func raceWritingVec(iov *unix.Iovec, n int) {
	for _, v := range unsafe.Slice(iov, n) {
		if v.Len > 0 {
			runtime.RaceReadRange(unsafe.Pointer(v.Base), int(v.Len))
		}
	}
}
