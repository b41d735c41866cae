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
// The ring holds only as many free buffers as the kernel needs between two reaps
// (want), not all of them: the rest wait outside it (spare), the last freed on top, and
// go in as the kernel uses up the ones it has. The ring is a FIFO, so a ring holding all
// 512 × 64 KiB buffers made every receive write into memory 32 MiB away from the last
// use, out of every cache: at 4 KiB × 100 connections × depth 1, 4.40 µs of server CPU
// per message against 3.9–4.0 with the buffers 16 or 64 (same run; see ARCHITECTURE.md).
// A receive that finds the ring empty while buffers are spare doubles want (grow); want
// halves again, down to its start, after a whole pool's worth of frees without one.
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

	spare   []uint16 // free buffers kept out of the ring; the last freed on top
	reserve int      // spare buffers the ring leaves to bulk reads while they are in use
	bulkAgo int      // buffers freed since bulk reads last wanted a buffer (bulkUse)
	ring    int      // buffers in the ring (kernel[bid])
	want    int      // buffers the ring is kept at while spare ones remain
	want0   int      // want's start and floor
	calm    int      // buffers freed since want last changed
	grew    bool     // want grew during this reap

	rxBytes, rxReads int // bytes and receives taken since crowd last weighed them
}

// lendHotBytes is the ring's starting hold on an incremental ring: enough for the
// receives of a few reaps at 64 KiB each, small enough to stay in the cache.
const lendHotBytes = 1 << 20

// lendBulkReserve is how many spare buffers an incremental ring leaves to bulk reads
// (uring_bulk_linux.go), whatever its receives want (a sixteenth of a smaller pool),
// from the time a read asks for one (bulkUse) until a whole pool's worth of buffers has
// been freed without another asking: a pool with no bulk reads lends every buffer
// through the ring. A bulk read's buffer comes back as soon as its write is made
// (iocontext releases a lent write's buffer at its completion), so a few serve every
// bulk descriptor; without them, 1,000 connections reading with requests had the ring
// take every buffer, and no descriptor could become a bulk one.
const lendBulkReserve = 4

// reserved is how many spare buffers the ring must leave now.
func (k *lendBook) reserved() int {
	if k.bulkAgo < len(k.pieces) {
		return k.reserve
	}
	return 0
}

// bulkUse records that a bulk read wants a spare buffer: the reserve holds from now.
func (k *lendBook) bulkUse() { k.bulkAgo = 0 }

// lendBookRing registers the ring for a lendBook: incremental when the kernel can,
// plain otherwise.
func lendBookRing(r *uring.Ring, size, count int) (*lendBook, error) {
	inc := true
	b, err := r.RegisterBufRingEmpty(0, uint32(count), size, uring.PbufRingInc)
	if err != nil {
		// Before Linux 6.12 the flag is refused (EINVAL): a plain ring.
		inc = false
		if b, err = r.RegisterBufRingEmpty(0, uint32(count), size, 0); err != nil {
			return nil, err
		}
	}
	k := &lendBook{
		bufs:   b,
		inc:    inc,
		filled: make([]uint32, count),
		pieces: make([]int32, count),
		kernel: make([]bool, count),
		spare:  make([]uint16, 0, count),
		want:   count,
	}
	if inc {
		// A plain ring spends a whole buffer per receive, so it keeps them all in.
		k.want = min(count, max(8, lendHotBytes/size))
		k.reserve = min(lendBulkReserve, count/16)
	}
	k.bulkAgo = count // no bulk reads yet: the ring may take every buffer
	k.want0 = k.want
	for i := count - 1; i >= 0; i-- {
		k.spare = append(k.spare, uint16(i))
	}
	k.fill()
	k.freed = 0
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
			k.used(bid)
		}
	} else {
		k.used(bid)
	}
	if k.pieces[bid] == 0 {
		k.lent++
	}
	k.pieces[bid]++
	k.rxBytes += int(n)
	k.rxReads++
	end := off + uint32(n)
	return b[off:end:end]
}

// used records that the kernel is done with buffer bid, and tops the ring up.
func (k *lendBook) used(bid uint16) {
	if k.kernel[bid] {
		k.kernel[bid] = false
		k.ring--
		k.fill()
	}
}

// untaken records a completion that named buffer bid without data (an end of stream
// or an error after the kernel picked it). A plain ring's buffer was consumed and goes
// back. An incremental ring's commit of 0 bytes leaves the buffer at the ring's head
// (io_kbuf_inc_commit advances only past filled bytes) even though the completion has
// no F_BUF_MORE, so it stays the kernel's: handing it over again would put it in the
// ring twice.
func (k *lendBook) untaken(bid uint16) {
	if !k.inc {
		k.used(bid)
		k.free(bid)
	}
}

// give releases one piece of buffer bid, handing the buffer back with its last piece
// if handBack (not once the ring is closed); it reports false when no piece was lent
// (a second release).
func (k *lendBook) give(bid uint16, handBack bool) bool {
	if k.pieces[bid] <= 0 {
		return false
	}
	if k.pieces[bid]--; k.pieces[bid] == 0 {
		k.lent--
		if handBack && !k.kernel[bid] {
			k.free(bid)
		}
	}
	return true
}

// lendSpare lends the top spare buffer whole to a read made with a syscall (a bulk
// read's Perform, TryNow's tryLent); there is one. It is lent before the syscall, so
// that a concurrent free cannot take it.
func (k *lendBook) lendSpare() uint16 {
	bid := k.spare[len(k.spare)-1]
	k.spare = k.spare[:len(k.spare)-1]
	k.pieces[bid] = 1
	k.lent++
	return bid
}

// unlendSpare takes back a buffer lendSpare lent to a read that got nothing, where a
// freed buffer goes if handBack (not once the ring is closed).
func (k *lendBook) unlendSpare(bid uint16, handBack bool) {
	k.pieces[bid] = 0
	k.lent--
	if handBack {
		k.free(bid)
	}
}

// free takes back buffer bid, whole: into the ring if it holds fewer than want and
// the reserve is whole, otherwise on top of the spare ones.
func (k *lendBook) free(bid uint16) {
	k.filled[bid] = 0
	if k.calm++; k.calm >= len(k.pieces) && k.want > k.want0 {
		k.want, k.calm = max(k.want0, k.want/2), 0
	}
	k.bulkAgo = min(k.bulkAgo+1, len(k.pieces))
	if k.ring < k.want && len(k.spare) >= k.reserved() {
		k.push(bid)
		k.bufs.Advance()
		return
	}
	k.spare = append(k.spare, bid)
	// A buffer given back restarts one read waiting for a buffer, wherever it goes:
	// the ring holds want, so the read finds one, or it finds none and its ENOBUFS
	// grows the ring. Counting only pushes left a read with data waiting for good
	// behind reads restarted into idle sockets (found by review). One that only
	// makes the reserve whole again is no buffer for them.
	if len(k.spare) > k.reserved() {
		k.freed++
	}
}

// fill hands spare buffers to the kernel, the most recently freed first, until the
// ring holds want of them or only the reserve (reserved) is left.
func (k *lendBook) fill() {
	pushed := false
	for ; k.ring < k.want && len(k.spare) > k.reserved(); pushed = true {
		bid := k.spare[len(k.spare)-1]
		k.spare = k.spare[:len(k.spare)-1]
		k.push(bid)
	}
	if pushed {
		k.bufs.Advance()
	}
}

// push puts buffer bid in the ring; Advance publishes it.
func (k *lendBook) push(bid uint16) {
	k.kernel[bid] = true
	k.ring++
	k.bufs.Recycle(bid)
	k.freed++
}

// grow doubles want after a receive found the ring empty and hands the kernel spare
// buffers up to it; with none spare (every buffer lent or in the ring) it does
// nothing. It doubles once per reap (endReap): the receives that found the ring empty
// in one batch of completions are one shortage, not many. A receive that finds only
// the reserve spare ends it (until the next bulkUse): a read must not wait for a
// release while buffers are free, and the application may be holding every other one
// (found by review: a frame gathered in lent buffers waited for good).
func (k *lendBook) grow() {
	if len(k.spare) == 0 || k.grew {
		return
	}
	if len(k.spare) <= k.reserved() {
		k.bulkAgo = len(k.pieces)
	}
	k.want, k.calm, k.grew = min(len(k.pieces), 2*k.want), 0, true
	k.fill()
}

// endReap marks the end of a batch of completions.
func (k *lendBook) endReap() { k.grew = false }

// valid reports whether id names a buffer of the ring.
func (k *lendBook) valid(id int32) bool { return id >= 0 && int(id) < len(k.pieces) }

// errReleased is ReleaseBuffer's panic for a buffer that is not lent.
func errReleased(id int32) string {
	return fmt.Sprintf("proactor: lent buffer %d released more times than it was lent", id)
}
