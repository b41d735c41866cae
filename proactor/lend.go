package proactor

import (
	"fmt"
	"sync"
)

// lendPool is the reactive backends' pool for reads with Op.Lend. Like io_uring's
// incremental buffer ring, it fills each buffer piecewise: a read is offered the
// unfilled rest of a buffer, keeps the bytes it received as a piece, and leaves the
// rest for the next read, so a 64-byte read holds 64 bytes, not a whole buffer. A
// buffer goes back to the free list when it is no longer being filled and every piece
// of it has been released. Nothing is taken while a connection waits: the space is
// only reserved for the read syscall of a ready descriptor. The pool grows when every
// buffer is lent or being filled at once.
type lendPool struct {
	mu   sync.Mutex
	size int
	bufs [][]byte
	// pieces counts the pieces of each buffer lent out; filling says the buffer is
	// being filled (offered to a read, or waiting in open for the next one).
	pieces  []int32
	filling []bool
	open    []openBuf // buffers with room left, not offered to a read right now
	free    []int32
}

// openBuf is a buffer with room from off on.
type openBuf struct {
	id  int32
	off int
}

func (p *lendPool) configure(size, count int) error {
	if size <= 0 || count <= 0 {
		return fmt.Errorf("proactor: lend buffers %d × %d: both must be positive", count, size)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.bufs) > 0 {
		return fmt.Errorf("proactor: lend buffers already in use; configure them before the first read")
	}
	p.size = size
	return nil
}

// get offers the room left in a buffer to a read: id, the offset of the room, and
// the room itself. The caller gives it back with commit.
func (p *lendPool) get() (id int32, off int, room []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.size == 0 {
		p.size = DefaultLendSize
	}
	if n := len(p.open); n > 0 {
		o := p.open[n-1]
		p.open = p.open[:n-1]
		return o.id, o.off, p.bufs[o.id][o.off:]
	}
	if n := len(p.free); n > 0 {
		id = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		id = int32(len(p.bufs))
		p.bufs = append(p.bufs, make([]byte, p.size))
		p.pieces = append(p.pieces, 0)
		p.filling = append(p.filling, false)
	}
	p.filling[id] = true
	return id, 0, p.bufs[id]
}

// commit ends the read that get offered buffer id's room from off to: it received n
// bytes (0 when it failed or found nothing). It returns the piece to lend (nil for n
// = 0), whose capacity ends with it so that appending cannot reach the next piece.
func (p *lendPool) commit(id int32, off, n int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var piece []byte
	if n > 0 {
		piece = p.bufs[id][off : off+n : off+n]
		p.pieces[id]++
		off += n
	}
	// A buffer with less than a sixteenth left is done: reads into a sliver would
	// come back short and cost a syscall each.
	if p.size-off >= p.size/16 && p.size-off > 0 {
		p.open = append(p.open, openBuf{id: id, off: off})
		return piece
	}
	p.filling[id] = false
	if p.pieces[id] == 0 {
		p.free = append(p.free, id)
	}
	return piece
}

// put releases one piece of buffer id.
func (p *lendPool) put(id int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id < 0 || int(id) >= len(p.pieces) || p.pieces[id] <= 0 {
		panic(fmt.Sprintf("proactor: lent buffer %d released more times than it was lent", id))
	}
	if p.pieces[id]--; p.pieces[id] > 0 {
		return
	}
	if !p.filling[id] {
		p.free = append(p.free, id)
		return
	}
	// Nothing of it is lent: the next read may start again at its beginning, which is
	// still in the cache (a request-response server keeps using one buffer's head).
	for i := range p.open {
		if p.open[i].id == id {
			p.open[i].off = 0
		}
	}
}
