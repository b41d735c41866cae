package proactor

import (
	"fmt"

	"github.com/coionet/coio/internal/uring"
)

// lendBook keeps the io_uring backend's account of its provided buffers: who holds
// each one. On an incremental ring (IOU_PBUF_RING_INC, Linux 6.12) the kernel fills a
// buffer piecewise, one receive after another, so a 64-byte read takes 64 bytes of a
// 64 KiB buffer rather than all of it, and many reads' data share one buffer. A buffer
// goes back to the ring when the kernel has moved past it (a completion naming it
// without F_BUF_MORE) and every piece lent from it has been released. On a plain ring
// each receive takes a whole buffer: one piece, and the kernel is done with it at once.
//
// Guarded by the backend's mu.
type lendBook struct {
	bufs   *uring.BufRing
	inc    bool     // the ring is incremental
	filled []uint32 // inc: bytes of the buffer the kernel has filled since it was handed over
	pieces []int32  // pieces of the buffer lent out (to handlers, or queued for a read)
	kernel []bool   // the kernel may still fill the buffer (it is in the ring)
	lent   int      // buffers with pieces lent out
	freed  int      // buffers handed back since the backend last restarted starved reads
}

// lendBookRing registers the ring for a lendBook: incremental when the kernel can,
// plain otherwise.
func lendBookRing(r *uring.Ring, size, count int) (*lendBook, error) {
	inc := true
	b, err := r.RegisterBufRingFlags(0, uint32(count), size, uring.PbufRingInc)
	if err != nil {
		// Before Linux 6.12 the flag is refused (EINVAL): a plain ring.
		inc = false
		if b, err = r.RegisterBufRing(0, uint32(count), size); err != nil {
			return nil, err
		}
	}
	k := &lendBook{
		bufs:   b,
		inc:    inc,
		filled: make([]uint32, count),
		pieces: make([]int32, count),
		kernel: make([]bool, count),
	}
	for i := range k.kernel {
		k.kernel[i] = true
	}
	return k, nil
}

// take records a completion that received n > 0 bytes into buffer bid (flags are the
// completion's) and returns where they are: the piece the caller lends, released by
// give. The piece's capacity ends with it, so appending to it cannot reach the next
// piece of the same buffer.
func (k *lendBook) take(bid uint16, n int32, flags uint32) []byte {
	b := k.bufs.Buf(bid)
	off := uint32(0)
	if k.inc {
		off = k.filled[bid]
		k.filled[bid] += uint32(n)
		if flags&uring.CQEFBufMore == 0 {
			k.kernel[bid] = false
		}
	} else {
		k.kernel[bid] = false
	}
	if k.pieces[bid] == 0 {
		k.lent++
	}
	k.pieces[bid]++
	end := off + uint32(n)
	return b[off:end:end]
}

// untaken records a completion that named buffer bid without data (an end of stream
// or an error after the kernel picked it). A plain ring's buffer was consumed and goes
// back. An incremental ring's commit of 0 bytes leaves the buffer at the ring's head
// (io_kbuf_inc_commit advances only past filled bytes) even though the completion has
// no F_BUF_MORE, so it stays the kernel's: handing it over again would put it in the
// ring twice.
func (k *lendBook) untaken(bid uint16) {
	if !k.inc {
		k.recycle(bid)
	}
}

// give releases one piece of buffer bid, handing the buffer back to the kernel with
// its last piece if handBack (not once the ring is closed); it reports false when no
// piece was lent (a second release).
func (k *lendBook) give(bid uint16, handBack bool) bool {
	if k.pieces[bid] <= 0 {
		return false
	}
	if k.pieces[bid]--; k.pieces[bid] == 0 {
		k.lent--
		if handBack && !k.kernel[bid] {
			k.recycle(bid)
		}
	}
	return true
}

// recycle hands buffer bid back to the kernel, whole.
func (k *lendBook) recycle(bid uint16) {
	k.filled[bid], k.kernel[bid] = 0, true
	k.bufs.Recycle(bid)
	k.bufs.Advance()
	k.freed++
}

// valid reports whether id names a buffer of the ring.
func (k *lendBook) valid(id int32) bool { return id >= 0 && int(id) < len(k.pieces) }

// errReleased is ReleaseBuffer's panic for a buffer that is not lent.
func errReleased(id int32) string {
	return fmt.Sprintf("proactor: lent buffer %d released more times than it was lent", id)
}
