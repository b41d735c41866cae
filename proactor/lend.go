package proactor

import (
	"fmt"
	"sync"
)

// lendPool is the reactive backends' pool for reads with Op.Lend. A buffer is taken
// only for the read syscall of a ready descriptor and put back at once when the read
// finds nothing, so buffers are held by handlers in progress, never by idle
// connections; the pool grows when every buffer is lent at once.
type lendPool struct {
	mu   sync.Mutex
	size int
	bufs [][]byte
	lent []bool
	free []int32
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

// get takes a buffer.
func (p *lendPool) get() (int32, []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.size == 0 {
		p.size = DefaultLendSize
	}
	if n := len(p.free); n > 0 {
		id := p.free[n-1]
		p.free = p.free[:n-1]
		p.lent[id] = true
		return id, p.bufs[id]
	}
	id := int32(len(p.bufs))
	p.bufs = append(p.bufs, make([]byte, p.size))
	p.lent = append(p.lent, true)
	return id, p.bufs[id]
}

// put gives buffer id back.
func (p *lendPool) put(id int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id < 0 || int(id) >= len(p.lent) || !p.lent[id] {
		panic(fmt.Sprintf("proactor: lent buffer %d released twice or never lent", id))
	}
	p.lent[id] = false
	p.free = append(p.free, id)
}
