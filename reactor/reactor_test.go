package reactor

import (
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(p[0], true)
	unix.SetNonblock(p[1], true)
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestReadableIsReportedOnceWithToken(t *testing.T) {
	p := newPoller(t)
	r, w := newPipe(t)
	if err := p.Add(r, 0xabc0000001, Readable); err != nil {
		t.Fatal(err)
	}
	ev := make([]Event, 8)
	if n, err := p.Wait(ev, 0); err != nil || n != 0 {
		t.Fatalf("Wait on an empty pipe = %d, %v; want 0, nil", n, err)
	}
	unix.Write(w, []byte("x"))
	n, err := p.Wait(ev, time.Second)
	if err != nil || n != 1 {
		t.Fatalf("Wait = %d, %v; want 1 event", n, err)
	}
	if ev[0].Token != 0xabc0000001 || ev[0].Events&Readable == 0 {
		t.Fatalf("event = %+v; want token 0xabc0000001, readable", ev[0])
	}
	// Edge-triggered: the unread byte raises no second event.
	if n, _ := p.Wait(ev, 10*time.Millisecond); n != 0 {
		t.Fatalf("second Wait without a new edge reported %d events", n)
	}
	unix.Write(w, []byte("y"))
	if n, _ := p.Wait(ev, time.Second); n != 1 {
		t.Fatalf("a new write raised %d events; want 1", n)
	}
}

func TestModifyAndRemove(t *testing.T) {
	p := newPoller(t)
	r, w := newPipe(t)
	if err := p.Add(w, 7, Writable); err != nil {
		t.Fatal(err)
	}
	ev := make([]Event, 8)
	if n, _ := p.Wait(ev, time.Second); n != 1 || ev[0].Token != 7 || ev[0].Events&Writable == 0 {
		t.Fatalf("a new pipe's write end should be writable: n=%d ev=%+v", n, ev[0])
	}
	if err := p.Modify(w, 8, Writable); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.Wait(ev, time.Second); n != 1 || ev[0].Token != 8 {
		t.Fatalf("after Modify: n=%d ev=%+v; want token 8", n, ev[0])
	}
	if err := p.Remove(w); err != nil {
		t.Fatal(err)
	}
	_ = r
	if err := p.Remove(w); err == nil {
		t.Fatal("removing an fd twice should fail")
	}
}

func TestWaitTimesOut(t *testing.T) {
	p := newPoller(t)
	ev := make([]Event, 4)
	start := time.Now()
	n, err := p.Wait(ev, 30*time.Millisecond)
	if err != nil || n != 0 {
		t.Fatalf("Wait = %d, %v", n, err)
	}
	if el := time.Since(start); el < 25*time.Millisecond {
		t.Fatalf("Wait returned after %v, before its 30ms timeout", el)
	}
}

func TestWakeFromAnotherGoroutine(t *testing.T) {
	p := newPoller(t)
	ev := make([]Event, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(20 * time.Millisecond)
		if err := p.Wake(); err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	n, err := p.Wait(ev, 10*time.Second)
	<-done
	if err != nil || n != 0 {
		t.Fatalf("woken Wait = %d, %v; want 0, nil", n, err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Wake did not end the wait")
	}
	// The wake-up was consumed: the next wait times out, and a later Wake works again.
	if n, _ := p.Wait(ev, 10*time.Millisecond); n != 0 {
		t.Fatal("a consumed wake-up was reported again")
	}
	p.Wake()
	p.Wake() // coalesced with the first
	start = time.Now()
	p.Wait(ev, 10*time.Second)
	if time.Since(start) > 5*time.Second {
		t.Fatal("a Wake before Wait did not make it return")
	}
}

func TestClosedPoller(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(make([]Event, 1), 0); err != ErrClosed {
		t.Fatalf("Wait after Close = %v; want ErrClosed", err)
	}
	if err := p.Close(); err != ErrClosed {
		t.Fatalf("second Close = %v; want ErrClosed", err)
	}
}
