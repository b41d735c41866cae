package iocontext

// Handlers that take the connection.
//
// A callback server usually makes its handlers once per connection, as closures over
// the connection (and its session): two closures and a session are three objects per
// connection, most of what an idle connection costs beyond the engine's own 256-byte
// TCPConn. The *Conn forms below pass the connection to the handler instead, so one
// func value — a top-level function or a closure made once — serves every connection
// of a server, as an event loop's OnTraffic(conn) does; an echo or a proxy then holds
// nothing per connection but the TCPConn. They behave exactly as the forms without
// Conn (same completion rules, errors and one-read/one-write limit) and allocate
// nothing per operation either.

// AsyncReadSomeConn is AsyncReadSome with a handler that gets the connection first.
func (t *TCPConn) AsyncReadSomeConn(b []byte, h func(t *TCPConn, n int, err error)) {
	t.startRead(b, false, handler(h), true)
}

// AsyncReadConn is AsyncRead with a handler that gets the connection first.
func (t *TCPConn) AsyncReadConn(b []byte, h func(t *TCPConn, n int, err error)) {
	t.startRead(b, true, handler(h), true)
}

// AsyncReadLentConn is AsyncReadLent with a handler that gets the connection first.
func (t *TCPConn) AsyncReadLentConn(h func(t *TCPConn, b LentBuffer, err error)) {
	t.startLent(handler(h), true)
}

// AsyncWriteSomeConn is AsyncWriteSome with a handler that gets the connection first.
func (t *TCPConn) AsyncWriteSomeConn(b []byte, h func(t *TCPConn, n int, err error)) {
	t.startWrite(b, false, LentBuffer{}, handler(h), true)
}

// AsyncWriteConn is AsyncWrite with a handler that gets the connection first.
func (t *TCPConn) AsyncWriteConn(b []byte, h func(t *TCPConn, n int, err error)) {
	t.startWrite(b, true, LentBuffer{}, handler(h), true)
}

// AsyncWriteLentConn is AsyncWriteLent with a handler that gets the connection first.
func (t *TCPConn) AsyncWriteLentConn(b LentBuffer, h func(t *TCPConn, n int, err error)) {
	t.startWrite(b.B, true, b, handler(h), true)
}

// AsyncReadSomeConn is AsyncReadSome with a handler that gets the connection first.
func (u *UnixConn) AsyncReadSomeConn(b []byte, h func(u *UnixConn, n int, err error)) {
	u.startRead(b, false, handler(h), true)
}

// AsyncReadConn is AsyncRead with a handler that gets the connection first.
func (u *UnixConn) AsyncReadConn(b []byte, h func(u *UnixConn, n int, err error)) {
	u.startRead(b, true, handler(h), true)
}

// AsyncReadLentConn is AsyncReadLent with a handler that gets the connection first.
func (u *UnixConn) AsyncReadLentConn(h func(u *UnixConn, b LentBuffer, err error)) {
	u.startLent(handler(h), true)
}

// AsyncWriteSomeConn is AsyncWriteSome with a handler that gets the connection first.
func (u *UnixConn) AsyncWriteSomeConn(b []byte, h func(u *UnixConn, n int, err error)) {
	u.startWrite(b, false, LentBuffer{}, handler(h), true)
}

// AsyncWriteConn is AsyncWrite with a handler that gets the connection first.
func (u *UnixConn) AsyncWriteConn(b []byte, h func(u *UnixConn, n int, err error)) {
	u.startWrite(b, true, LentBuffer{}, handler(h), true)
}

// AsyncWriteLentConn is AsyncWriteLent with a handler that gets the connection first.
func (u *UnixConn) AsyncWriteLentConn(b LentBuffer, h func(u *UnixConn, n int, err error)) {
	u.startWrite(b.B, true, b, handler(h), true)
}
