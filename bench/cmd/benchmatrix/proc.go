package main

import (
	"bufio"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/coionet/coio/bench/internal/results"
)

// machine describes this machine from /proc.
func machine() results.Machine {
	m := results.Machine{CPU: "unknown CPU", Cores: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.Join(strings.Fields(v), " ")
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					kb, _ := strconv.ParseFloat(f[0], 64)
					m.MemGiB = kb / (1 << 20)
				}
			}
		}
	}
	return m
}

// clkTck is USER_HZ, the unit of /proc/stat and /proc/PID/stat times; 100 on every
// Linux architecture the benchmark runs on.
const clkTck = 100

// busyTicks returns the machine's busy clock ticks (user+nice+system+irq+softirq+
// steal of the aggregate line of /proc/stat).
func busyTicks() (uint64, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, errors.New("/proc/stat is empty")
	}
	fs := strings.Fields(sc.Text())
	if len(fs) < 9 || fs[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var busy uint64
	for i, v := range fs[1:9] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, err
		}
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, nil
}

// busyPct samples the machine's busy time over d, in % of one core.
func busyPct(d time.Duration) float64 {
	b0, err := busyTicks()
	if err != nil {
		return 0
	}
	time.Sleep(d)
	b1, err := busyTicks()
	if err != nil {
		return 0
	}
	return 100 * float64(b1-b0) / clkTck / d.Seconds()
}

// procCPU returns a process's utime + stime in seconds, from /proc/PID/stat.
func procCPU(pid int) (user, sys float64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command (field 2) is in parentheses and may hold spaces: start after the
	// last ')'. Field 3 (state) is then the first, utime (14) the 12th, stime the 13th.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, errors.New("cannot parse /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, errors.New("cannot parse /proc/PID/stat")
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, errors.New("cannot parse /proc/PID/stat")
	}
	return float64(u) / clkTck, float64(st) / clkTck, nil
}
