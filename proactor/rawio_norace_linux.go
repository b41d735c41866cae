//go:build linux && !race

package proactor

import "golang.org/x/sys/unix"

// raceReadDone and raceWriting annotate raw transfers for the race detector
// (rawio_race_linux.go); without it they are nothing.

func raceReadDone([]byte, int) {}

func raceWriting([]byte) {}

func raceWritingVec(*unix.Iovec, int) {}
