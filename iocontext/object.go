package iocontext

// objNode links an open I/O object into its Context's list, so that Close can close
// every object still open. It is embedded in the object: registering allocates nothing.
type objNode struct {
	prev, next *objNode
	owner      shutdowner // nil while the object is not listed
}

type shutdowner interface {
	// shutdown closes the object because its Context is closing.
	shutdown()
}

type objList struct {
	head *objNode
}

func (c *Context) register(n *objNode, owner shutdowner) error {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	if c.closed.Load() {
		return ErrContextClosed
	}
	n.owner = owner
	n.prev, n.next = nil, c.objs.head
	if c.objs.head != nil {
		c.objs.head.prev = n
	}
	c.objs.head = n
	return nil
}

func (c *Context) unregister(n *objNode) {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	if n.owner == nil {
		return
	}
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		c.objs.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	}
	n.prev, n.next, n.owner = nil, nil, nil
}

// registerStream lists s, like register. Streams, most of a server's objects, have a
// list of their own, linked through themselves: two pointers in each, where an
// objNode would take four words.
func (c *Context) registerStream(s *stream) error {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	if c.closed.Load() {
		return ErrContextClosed
	}
	s.prev, s.next = nil, c.streams
	if c.streams != nil {
		c.streams.prev = s
	}
	c.streams = s
	return nil
}

func (c *Context) unregisterStream(s *stream) {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	if s.prev == nil && c.streams != s {
		return // not listed
	}
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		c.streams = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
}

// openObjects returns the objects still open.
func (c *Context) openObjects() []shutdowner {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	var out []shutdowner
	for n := c.objs.head; n != nil; n = n.next {
		out = append(out, n.owner)
	}
	for s := c.streams; s != nil; s = s.next {
		out = append(out, s)
	}
	return out
}
