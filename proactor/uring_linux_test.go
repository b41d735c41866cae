package proactor

import (
	"errors"
	"strings"
	"testing"

	"github.com/coionet/coio/internal/uring"
	"golang.org/x/sys/unix"
)

// refuseUring makes io_uring set-up fail with errno for the rest of the test, as a
// kernel with io_uring disabled (sysctl kernel.io_uring_disabled, a seccomp filter)
// or without it does.
func refuseUring(t *testing.T, errno unix.Errno) {
	old := uringSetup
	uringSetup = func(uint32, *uring.Params) (*uring.Ring, error) { return nil, errno }
	t.Cleanup(func() { uringSetup = old })
	t.Setenv(EnvVar, "")
}

func TestAutoFallsBackWhenUringRefused(t *testing.T) {
	for _, errno := range []unix.Errno{unix.EPERM, unix.ENOSYS, unix.ENOMEM} {
		t.Run(errno.Error(), func(t *testing.T) {
			refuseUring(t, errno)
			be, info, err := Open(Auto, make(chanSink, 1))
			if err != nil {
				t.Fatalf("Open(Auto) with io_uring refused: %v", err)
			}
			defer be.Shutdown()
			if info.Kind != Epoll || be.Name() != "epoll" {
				t.Fatalf("Open(Auto) = %+v (%s); want the epoll fallback", info, be.Name())
			}
			if !strings.Contains(info.Reason, "io_uring unavailable") || !strings.Contains(info.Reason, errno.Error()) {
				t.Fatalf("reason %q does not say why io_uring was not used (%v)", info.Reason, errno)
			}
		})
	}
}

func TestForcedUringFailsWhenRefused(t *testing.T) {
	refuseUring(t, unix.EPERM)
	be, _, err := Open(IOURing, make(chanSink, 1))
	if err == nil {
		be.Shutdown()
		t.Fatal("Open(IOURing) succeeded with io_uring refused")
	}
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "iouring") {
		t.Fatalf("Open(IOURing) error %q: want one naming the backend and wrapping EPERM", err)
	}
}

func TestEnvSelectsUring(t *testing.T) {
	t.Setenv(EnvVar, "iouring")
	be, info, err := Open(Epoll, make(chanSink, 1))
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
			t.Skipf("io_uring refused by this kernel: %v", err)
		}
		t.Fatal(err)
	}
	defer be.Shutdown()
	if info.Kind != IOURing || be.Name() != "iouring" || !strings.Contains(info.Reason, EnvVar) {
		t.Fatalf("COIO_BACKEND=iouring gave %+v (%s)", info, be.Name())
	}
}

func TestAutoPicksUring(t *testing.T) {
	t.Setenv(EnvVar, "")
	be, info, err := Open(Auto, make(chanSink, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Shutdown()
	if info.Kind != IOURing {
		if strings.Contains(info.Reason, "unavailable") {
			t.Skipf("io_uring not usable on this kernel: %s", info.Reason)
		}
		t.Fatalf("Open(Auto) = %+v; want io_uring", info)
	}
}
