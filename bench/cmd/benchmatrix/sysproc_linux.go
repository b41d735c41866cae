package main

import "syscall"

// childAttr makes a child (a server, a load generator) die with the matrix: killed or
// crashed, benchmatrix must not leave a server holding its port and a CPU for the
// next run.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
