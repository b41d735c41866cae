//go:build !linux

package main

import "syscall"

// childAttr: only Linux has a parent-death signal; elsewhere benchmatrix's own exit
// path stops the servers.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
