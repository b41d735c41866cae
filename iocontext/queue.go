package iocontext

import "github.com/coionet/coio/proactor"

// task is one unit of queued work: a posted function or an operation's completion.
// Exactly one of the fields is set. Tasks are stored by value in rings, so queueing one
// allocates nothing once the ring has grown to its working size.
type task struct {
	fn func()
	op *proactor.Op
	// stamp is when an op's completion was queued (ns since the epoch), 0 when not
	// sampled: here rather than in the op, which every connection embeds.
	stamp int64
}

// ring is a growable FIFO of tasks. It is not safe for concurrent use.
type ring struct {
	buf  []task // len is a power of two
	head int    // index of the first task
	n    int    // number of tasks
}

func (q *ring) len() int { return q.n }

func (q *ring) push(t task) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = t
	q.n++
}

func (q *ring) pop() (task, bool) {
	if q.n == 0 {
		return task{}, false
	}
	i := q.head
	t := q.buf[i]
	q.buf[i] = task{} // drop references for the garbage collector
	q.head = (i + 1) & (len(q.buf) - 1)
	q.n--
	return t, true
}

// unpop puts t back at the front of q, where pop took it from.
func (q *ring) unpop(t task) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.head = (q.head - 1) & (len(q.buf) - 1)
	q.buf[q.head] = t
	q.n++
}

// moveTo moves up to max tasks from the front of q to the back of dst.
func (q *ring) moveTo(dst *ring, max int) int {
	moved := 0
	for moved < max {
		t, ok := q.pop()
		if !ok {
			break
		}
		dst.push(t)
		moved++
	}
	return moved
}

func (q *ring) grow() {
	size := 2 * len(q.buf)
	if size == 0 {
		size = 64
	}
	buf := make([]task, size)
	for i := 0; i < q.n; i++ {
		buf[i] = q.buf[(q.head+i)&(len(q.buf)-1)]
	}
	q.buf, q.head = buf, 0
}
