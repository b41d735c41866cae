package iocontext

// objNode links an open I/O object into its Context's list, so that Close can close
// every object still open. It is embedded in the object: registering allocates nothing.
type objNode struct {
	links[objNode]
	owner shutdowner // nil while the object is not listed
}

func (n *objNode) link() *links[objNode] { return &n.links }

type shutdowner interface {
	// shutdown closes the object because its Context is closing.
	shutdown()
}

// links are the two pointers of an intrusive doubly linked list of T, embedded in T.
// Streams, most of a server's objects, are listed through links of their own (two
// words each); the other objects through an objNode, which also holds their owner.
type links[T any] struct {
	prev, next *T
}

// linked is a *T that embeds its links.
type linked[T any] interface {
	*T
	link() *links[T]
}

// pushFront lists x at the head of the list *head; guarded by the Context's objMu.
func pushFront[T any, P linked[T]](head **T, x P) {
	l := x.link()
	l.prev, l.next = nil, *head
	if *head != nil {
		P(*head).link().prev = (*T)(x)
	}
	*head = (*T)(x)
}

// unlink takes x off the list *head; a no-op if it is not listed.
func unlink[T any, P linked[T]](head **T, x P) {
	l := x.link()
	if l.prev == nil && *head != (*T)(x) {
		return // not listed
	}
	if l.prev != nil {
		P(l.prev).link().next = l.next
	} else {
		*head = l.next
	}
	if l.next != nil {
		P(l.next).link().prev = l.prev
	}
	l.prev, l.next = nil, nil
}

func (c *Context) register(n *objNode, owner shutdowner) error {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	if c.closed.Load() {
		return ErrContextClosed
	}
	n.owner = owner
	pushFront(&c.objs, n)
	return nil
}

func (c *Context) unregister(n *objNode) {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	unlink(&c.objs, n)
	n.owner = nil
}

// registerStream lists s, like register.
func (c *Context) registerStream(s *stream) error {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	if c.closed.Load() {
		return ErrContextClosed
	}
	pushFront(&c.streams, s)
	return nil
}

func (c *Context) unregisterStream(s *stream) {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	unlink(&c.streams, s)
}

// openObjects returns the objects still open.
func (c *Context) openObjects() []shutdowner {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	var out []shutdowner
	for n := c.objs; n != nil; n = n.next {
		out = append(out, n.owner)
	}
	for s := c.streams; s != nil; s = s.next {
		out = append(out, s)
	}
	return out
}

// CloseReadAll shuts down the reading side of every open TCP and Unix stream of c, as
// CloseRead on each, and returns how many it reached. A read in flight, and every
// read after it, ends with io.EOF once the data already received is consumed, while
// writes go on: a server whose handlers close a connection at io.EOF thus finishes
// the exchange in flight on each and closes it — the drain of a graceful shutdown,
// without the server keeping a list of its connections. Streams opened after the
// call are not affected (close the listeners first). Errors of single streams (one
// closing meanwhile) are ignored.
func (c *Context) CloseReadAll() int {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	n := 0
	for s := c.streams; s != nil; s = s.next {
		if s.CloseRead() == nil {
			n++
		}
	}
	return n
}
