//go:build linux

package uring

import (
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BufRing is a provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19) with its
// buffers: the kernel picks a buffer from it for each receive that asks for group
// Bgid, and the application hands buffers back with Recycle and Advance. The ring
// and the buffers are mmap'd outside the Go heap, so the garbage collector never
// moves or frees what the kernel writes into.
type BufRing struct {
	ring    *Ring
	bgid    uint16
	entries uint32
	mask    uint32
	size    int
	ringMem []byte // entries × 16-byte struct io_uring_buf; the tail overlays bufs[0]
	data    []byte // entries × size bytes of buffers
	tail    uint32 // local tail; published by Advance
}

// RegisterBufRing registers a ring of entries (a power of two, at most 32768) buffers
// of size bytes as group bgid and hands every buffer to the kernel.
func (r *Ring) RegisterBufRing(bgid uint16, entries uint32, size int) (*BufRing, error) {
	return r.RegisterBufRingFlags(bgid, entries, size, 0)
}

// Bgid is the group id receives name to use this ring.
func (b *BufRing) Bgid() uint16 { return b.bgid }

// Size is the length of every buffer.
func (b *BufRing) Size() int { return b.size }

// Buf is buffer bid, all Size bytes of it.
func (b *BufRing) Buf(bid uint16) []byte {
	off := int(bid) * b.size
	return b.data[off : off+b.size : off+b.size]
}

// Recycle queues buffer bid to be handed back to the kernel by the next Advance.
func (b *BufRing) Recycle(bid uint16) {
	// Slot tail&mask < entries: inside ringMem. struct io_uring_buf is {addr u64,
	// len u32, bid u16, resv u16}; the kernel reads it only after Advance publishes.
	slot := unsafe.Pointer(&b.ringMem[(b.tail&b.mask)*16])
	*(*uint64)(slot) = uint64(uintptr(unsafe.Pointer(&b.data[int(bid)*b.size])))
	*(*uint32)(unsafe.Add(slot, 8)) = uint32(b.size)
	*(*uint16)(unsafe.Add(slot, 12)) = bid
	b.tail++
}

// Advance publishes the buffers recycled since the last Advance.
func (b *BufRing) Advance() {
	// The ring's tail is a u16 at byte 14, sharing a 32-bit word with bufs[0].bid at
	// byte 12. Go has no 16-bit atomic store, so the word is rewritten whole, keeping
	// the bid half; only this side ever writes bytes 12..15 (little-endian amd64 and
	// arm64, the only io_uring ports coio builds for).
	w := (*uint32)(unsafe.Pointer(&b.ringMem[12]))
	old := atomic.LoadUint32(w)
	atomic.StoreUint32(w, old&0xffff|(b.tail&0xffff)<<16)
}

// Close unregisters the ring and unmaps its memory. No receive may still use it.
func (b *BufRing) Close() error {
	reg := BufReg{Bgid: b.bgid}
	_, err := b.ring.Register(UnregisterPbufRing, unsafe.Pointer(&reg), 1)
	b.unmap()
	if err != nil {
		return os.NewSyscallError("io_uring_register(UNREGISTER_PBUF_RING)", err)
	}
	return nil
}

func (b *BufRing) unmap() {
	if b.data != nil {
		unix.Munmap(b.data)
	}
	if b.ringMem != nil {
		unix.Munmap(b.ringMem)
	}
	b.data, b.ringMem = nil, nil
}
