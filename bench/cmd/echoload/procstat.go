//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The readers here run at the edges of the measured window and must not allocate:
// they read /proc files with raw syscalls into a buffer owned by the caller and parse
// the bytes by hand.

// maxCPUs bounds the per-CPU lines of /proc/stat that are kept.
const maxCPUs = 64

// cpuTimes is one sample of /proc/stat: busy and total ticks of the whole machine and
// of each CPU (busy = user+nice+system+irq+softirq+steal; total adds idle and iowait).
type cpuTimes struct {
	busy, total       uint64
	cpuBusy, cpuTotal [maxCPUs]uint64
	ncpu              int
}

// procReader reads /proc files into one reusable buffer.
type procReader struct {
	buf  [64 << 10]byte
	path [64]byte // "/proc/<pid>/stat" built in place
}

// readFile reads the file named by path (which must be NUL-terminated) into r.buf and
// returns the bytes read. At most len(r.buf) bytes are read, in at most 64 reads.
func (r *procReader) readFile(path []byte) ([]byte, error) {
	fd, err := openBytes(path)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n := 0
	for i := 0; i < 64 && n < len(r.buf); i++ {
		m, err := unix.Read(fd, r.buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return r.buf[:n], nil
}

// openBytes opens a NUL-terminated path read-only. unix.Open would copy the path into
// a new NUL-terminated buffer; this does not allocate.
func openBytes(path []byte) (int, error) {
	if len(path) == 0 || path[len(path)-1] != 0 {
		return -1, unix.EINVAL
	}
	for i := 0; i < 16; i++ {
		fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(atFDCWD),
			uintptr(unsafe.Pointer(&path[0])), uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(fd), nil
	}
	return -1, unix.EINTR
}

// atFDCWD is AT_FDCWD (-100) held in a variable so that it converts to uintptr.
var atFDCWD = unix.AT_FDCWD

var procStatPath = []byte("/proc/stat\x00")

var errParse = errors.New("cannot parse /proc file")

// procStat reads utime and stime (in clock ticks) of process pid from /proc/pid/stat.
func (r *procReader) procStat(pid int) (utime, stime uint64, err error) {
	p := append(r.path[:0], "/proc/"...)
	p = appendUint(p, uint64(pid))
	p = append(p, "/stat\x00"...)
	b, err := r.readFile(p)
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: start after
	// the last ')'. Field 3 (state) is then field 0, so utime (14) is 11, stime 12.
	i := len(b) - 1
	for i >= 0 && b[i] != ')' {
		i--
	}
	if i < 0 {
		return 0, 0, errParse
	}
	field, v, ok := 0, uint64(0), false
	for j := i + 1; j < len(b) && field <= 12; {
		for j < len(b) && b[j] == ' ' {
			j++
		}
		start := j
		for j < len(b) && b[j] != ' ' && b[j] != '\n' {
			j++
		}
		if field == 11 || field == 12 {
			v, ok = parseUint(b[start:j])
			if !ok {
				return 0, 0, errParse
			}
			if field == 11 {
				utime = v
			} else {
				stime = v
			}
		}
		field++
	}
	if field <= 12 {
		return 0, 0, errParse
	}
	return utime, stime, nil
}

// machineStat reads the "cpu" and "cpuN" lines of /proc/stat into t.
func (r *procReader) machineStat(t *cpuTimes) error {
	b, err := r.readFile(procStatPath)
	if err != nil {
		return err
	}
	*t = cpuTimes{}
	for len(b) > 0 {
		end := 0
		for end < len(b) && b[end] != '\n' {
			end++
		}
		line := b[:end]
		if end < len(b) {
			b = b[end+1:]
		} else {
			b = b[end:]
		}
		if len(line) < 4 || line[0] != 'c' || line[1] != 'p' || line[2] != 'u' {
			continue
		}
		cpu := -1 // the aggregate line
		j := 3
		if line[3] != ' ' {
			k := j
			for k < len(line) && line[k] != ' ' {
				k++
			}
			n, ok := parseUint(line[j:k])
			if !ok {
				continue
			}
			cpu, j = int(n), k
		}
		var busy, total uint64
		for f := 0; f < 8 && j < len(line); f++ { // user nice system idle iowait irq softirq steal
			for j < len(line) && line[j] == ' ' {
				j++
			}
			k := j
			for k < len(line) && line[k] != ' ' {
				k++
			}
			v, ok := parseUint(line[j:k])
			if !ok {
				return errParse
			}
			j = k
			total += v
			if f != 3 && f != 4 { // idle, iowait
				busy += v
			}
		}
		if cpu < 0 {
			t.busy, t.total = busy, total
		} else if cpu < maxCPUs {
			t.cpuBusy[cpu], t.cpuTotal[cpu] = busy, total
			t.ncpu = max(t.ncpu, cpu+1)
		}
	}
	return nil
}

// clockTicks returns the kernel's USER_HZ (the unit of /proc/*/stat times) from the
// auxiliary vector (AT_CLKTCK), or 100 if it cannot be read.
func clockTicks() uint64 {
	const atClkTck = 17
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	for i := 0; i+16 <= len(b); i += 16 {
		k := binary.NativeEndian.Uint64(b[i:])
		v := binary.NativeEndian.Uint64(b[i+8:])
		if k == atClkTck && v > 0 {
			return v
		}
		if k == 0 {
			break
		}
	}
	return 100
}

func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

func appendUint(b []byte, v uint64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
