//go:build linux && !race

package proactor

// raceReadDone and raceWriting annotate raw transfers for the race detector
// (rawio_race_linux.go); without it they are nothing.

func raceReadDone([]byte, int) {}

func raceWriting([]byte) {}
