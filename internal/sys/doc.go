// Package sys holds the few socket syscalls whose spelling differs between Linux and
// the BSDs: creating and accepting non-blocking, close-on-exec sockets. Everything else
// coio calls directly through golang.org/x/sys/unix.
package sys
