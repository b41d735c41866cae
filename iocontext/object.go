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

// openObjects returns the objects still open.
func (c *Context) openObjects() []shutdowner {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	var out []shutdowner
	for n := c.objs.head; n != nil; n = n.next {
		out = append(out, n.owner)
	}
	return out
}
