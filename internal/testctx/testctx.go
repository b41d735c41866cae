package testctx

import (
	"sync"
	"testing"

	"github.com/coionet/coio/iocontext"
	"go.uber.org/goleak"
)

// New returns a Context with the given options, closed when the test ends.
func New(t testing.TB, opts ...iocontext.Option) *iocontext.Context {
	t.Helper()
	ctx, err := iocontext.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Close() })
	return ctx
}

// RunN runs ctx on n goroutines until it stops or runs out of work.
func RunN(ctx *iocontext.Context, n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx.Run()
		}()
	}
	wg.Wait()
}

// VerifyMain runs the tests and fails if they leave goroutines behind. ants (Offload's
// pool) starts a default pool of its own at package init: those goroutines exist
// before any test and are not a leak.
func VerifyMain(m *testing.M) { goleak.VerifyTestMain(m, goleak.IgnoreCurrent()) }
