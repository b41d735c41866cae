//go:build linux

package uring

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Additions to the binding for the kernel-fact tests (kernel_test.go) and the
// backend: eventfd registration, recv bundles and incremental provided buffers.

// UnregisterEventfd is IORING_UNREGISTER_EVENTFD (5.2).
const UnregisterEventfd = 5

// RecvsendBundle (ioprio of OpRecv/OpSend with SQEBufferSelect, Linux 6.10,
// FeatRecvSendBundle) lets one receive fill several provided buffers: the completion
// covers Res bytes over contiguous buffers starting at the id in its flags.
const RecvsendBundle = 1 << 4

// CQEFBufMore (Linux 6.12) is set on a completion that consumed part of a buffer of an
// incremental ring (PbufRingInc): the kernel keeps using the rest of that buffer, so it
// is not the application's yet.
const CQEFBufMore = 1 << 4

// PbufRingInc (BufReg.Flags, Linux 6.12) makes a provided-buffer ring incremental:
// receives consume a buffer piecewise, each one continuing where the last one ended.
const PbufRingInc = 2

// RegisterEventfd makes the kernel signal eventfd fd whenever it posts a completion
// to the ring, and, with SetupDeferTaskrun, as soon as work is queued for the owner's
// next Enter: a netpoller can watch fd instead of a thread blocking in Enter.
func (r *Ring) RegisterEventfd(fd int) error {
	efd := int32(fd)
	// The kernel reads the descriptor during the call only; efd outlives it.
	if _, err := r.Register(RegisterEventfd, unsafe.Pointer(&efd), 1); err != nil {
		return os.NewSyscallError("io_uring_register(EVENTFD)", err)
	}
	return nil
}

// UnregisterEventfd undoes RegisterEventfd.
func (r *Ring) UnregisterEventfd() error {
	if _, err := r.Register(UnregisterEventfd, nil, 0); err != nil {
		return os.NewSyscallError("io_uring_register(UNREGISTER_EVENTFD)", err)
	}
	return nil
}

// PrepRecvBundle prepares a receive into as many buffers of group bgid as the data
// waiting needs (RecvsendBundle, Linux 6.10): one completion, Res bytes spread over
// contiguous buffer ids from Flags>>CQEBufferShift.
func (e *SQE) PrepRecvBundle(fd int, bgid uint16, ud uint64) {
	e.PrepRecvSelect(fd, bgid, ud)
	e.Ioprio |= RecvsendBundle
}

// RegisterBufRingFlags is RegisterBufRing with registration flags (BufReg.Flags, e.g.
// PbufRingInc); a kernel that does not know a flag refuses it with EINVAL.
func (r *Ring) RegisterBufRingFlags(bgid uint16, entries uint32, size int, flags uint16) (*BufRing, error) {
	b, err := r.RegisterBufRingEmpty(bgid, entries, size, flags)
	if err != nil {
		return nil, err
	}
	for i := uint32(0); i < entries; i++ {
		b.Recycle(uint16(i))
	}
	b.Advance()
	return b, nil
}

// RegisterBufRingEmpty is RegisterBufRingFlags without handing any buffer to the
// kernel: the caller hands them over with Recycle and Advance, each at most once
// until the kernel has used it.
func (r *Ring) RegisterBufRingEmpty(bgid uint16, entries uint32, size int, flags uint16) (*BufRing, error) {
	if entries == 0 || entries&(entries-1) != 0 || entries > 32768 {
		return nil, fmt.Errorf("uring: buffer ring entries %d: want a power of two up to 32768", entries)
	}
	if size <= 0 {
		return nil, fmt.Errorf("uring: buffer size %d", size)
	}
	b := &BufRing{ring: r, bgid: bgid, entries: entries, mask: entries - 1, size: size}
	var err error
	prot, mflags := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS
	if b.ringMem, err = unix.Mmap(-1, 0, int(entries)*16, prot, mflags); err != nil {
		return nil, os.NewSyscallError("mmap buffer ring", err)
	}
	if b.data, err = unix.Mmap(-1, 0, int(entries)*size, prot, mflags); err != nil {
		b.unmap()
		return nil, os.NewSyscallError("mmap buffers", err)
	}
	// ringMem is an mmap'd, page-aligned mapping outside the Go heap: its address is
	// stable for as long as the ring is registered (BufRing.Close unregisters first).
	reg := BufReg{RingAddr: uint64(uintptr(unsafe.Pointer(&b.ringMem[0]))), RingEntries: entries, Bgid: bgid, Flags: flags}
	if _, err := r.Register(RegisterPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		b.unmap()
		return nil, os.NewSyscallError("io_uring_register(PBUF_RING)", err)
	}
	return b, nil
}
