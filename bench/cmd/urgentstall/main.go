//go:build linux

// Command urgentstall shows a Linux behaviour that parks an edge-triggered reader for
// good, here with Go's net package: a non-blocking TCP read that starts at the urgent
// mark fails with EAGAIN, data queued behind the mark, when the reading thread has a
// signal pending (tcp_recvmsg), and the Go runtime preempts goroutines with SIGURG.
// The data's readiness edge has already come, so the netpoller never wakes the reader.
//
// Each round a fresh loopback connection gets "abc", one urgent byte and "efg", while
// another goroutine signals the reading goroutine's thread (locked to it) without
// pause; the reader must get the six plain bytes before a one-second read deadline.
// It prints how many rounds stalled. coio's epoll backend reads again at the mark
// (proactor.reactive.attempt, TestUrgentMarkReadWithSignalPending).
//
//	go run ./cmd/urgentstall -rounds 300
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	rounds := flag.Int("rounds", 300, "connections to try (each stalled one costs the one-second deadline)")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	stalls := 0
	for i := 0; i < *rounds; i++ {
		got, err := round(ln)
		if err != nil {
			log.Fatal(err)
		}
		if got != "abcefg" {
			stalls++
		}
	}
	fmt.Printf("%s, Go net: %d of %d reads stalled at the urgent mark (one-second deadline)\n",
		runtime.Version(), stalls, *rounds)
}

// round sends the bytes on a new connection and returns what the reader got.
func round(ln net.Listener) (string, error) {
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		return "", err
	}
	defer s.Close()

	tid := make(chan int, 1)
	got := make(chan string, 1)
	go func() {
		runtime.LockOSThread() // the reads run on this thread: the one signalled
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		buf := make([]byte, 64)
		var b []byte
		s.SetReadDeadline(time.Now().Add(time.Second))
		for len(b) < len("abcefg") {
			n, err := s.Read(buf)
			if err != nil {
				break
			}
			b = append(b, buf[:n]...)
		}
		got <- string(b)
	}()
	t := <-tid
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			unix.Tgkill(os.Getpid(), t, unix.SIGURG) // the runtime takes it for a preemption request
		}
	}()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return "", err
	}
	var werr error
	raw.Write(func(fd uintptr) bool {
		if _, werr = unix.Write(int(fd), []byte("abc")); werr != nil {
			return true
		}
		if werr = unix.Sendto(int(fd), []byte("!"), unix.MSG_OOB, nil); werr != nil {
			return true
		}
		_, werr = unix.Write(int(fd), []byte("efg"))
		return true
	})
	r := <-got
	close(stop)
	<-stopped
	return r, werr
}
