package iocontext

import "github.com/coionet/coio/proactor"

// WrapBackend puts wrap(c's backend) in its place, for tests that watch what the
// Context tells its backend. Call it before the first run call.
func WrapBackend(c *Context, wrap func(proactor.Backend) proactor.Backend) { c.be = wrap(c.be) }

// SetConnReadHook makes f run in the blocking adapter's Read between its try and its
// submit (nil: nothing).
func SetConnReadHook(f func()) { connHookReadSubmit = f }
