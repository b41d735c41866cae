package iocontext

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/coionet/coio/proactor"
)

// ErrAborted is the result of an operation that was cancelled (Cancel), whose object
// was closed (then errors.Is(err, net.ErrClosed) holds too), or whose Context was
// closed before it completed.
var ErrAborted = proactor.ErrAborted

// ErrBusy is the result of starting a second read (or a second write) on a stream while
// the first is still in flight. Streams allow one of each at a time, as Asio does, so
// that data is never interleaved or reordered.
var ErrBusy = errors.New("coio: another operation of this kind is in flight on this stream")

// ErrContextClosed is returned when an object is created on a Context that was closed.
var ErrContextClosed = errors.New("coio: context closed")

// PanicError is what a run call panics with when a handler panicked: the handler's
// panic value and the stack of the goroutine where it happened.
type PanicError struct {
	Value any    // the value the handler panicked with
	Stack []byte // the handler's stack at the panic
}

func (p *PanicError) Error() string {
	return fmt.Sprintf("coio: handler panicked: %v\n\n%s", p.Value, p.Stack)
}

// Unwrap returns the panic value when it is an error.
func (p *PanicError) Unwrap() error {
	if err, ok := p.Value.(error); ok {
		return err
	}
	return nil
}

// opError turns a backend result into the error a handler receives: nil, io.EOF for
// an orderly end of stream (reads only, unwrapped as in package net), the abort errors
// as they are, net.ErrClosed, or a *net.OpError wrapping an *os.SyscallError.
func opError(op, netw string, local, remote func() net.Addr, err error) error {
	switch err {
	case nil, io.EOF, proactor.ErrAborted, proactor.ErrAbortedClosed, net.ErrClosed, os.ErrDeadlineExceeded:
		return err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		err = os.NewSyscallError(syscallName(op), errno)
	}
	oe := &net.OpError{Op: op, Net: netw, Err: err}
	if local != nil {
		oe.Source = local()
	}
	if remote != nil {
		oe.Addr = remote()
	}
	return oe
}

func syscallName(op string) string {
	switch op {
	case "read":
		return "read"
	case "write":
		return "write"
	case "accept":
		return "accept4"
	case "dial":
		return "connect"
	}
	return op
}
