package coroutine_test

import (
	"iter"
	"testing"

	"github.com/coionet/coio/internal/testctx"

	"github.com/coionet/coio/coroutine"
)

// BenchmarkSwitch compares one resume+suspend round trip of a coio coroutine (an
// operation that completes at once, so no queue is involved: the cost is the switch
// and coio's bookkeeping around it) with a raw iter.Pull round trip and a channel
// ping-pong between two goroutines, in the same run.
func BenchmarkSwitch(b *testing.B) {
	b.Run("coroutine", func(b *testing.B) {
		b.ReportAllocs()
		ctx := testctx.New(b)
		inline := func(resume func()) { resume() }
		coroutine.Spawn(ctx, func(y *coroutine.Yield) {
			b.ResetTimer()
			for range b.N {
				y.Suspend(inline)
			}
			b.StopTimer()
		})
		ctx.Run()
	})
	b.Run("iter.Pull", func(b *testing.B) {
		b.ReportAllocs()
		next, stop := iter.Pull(func(yield func(int) bool) {
			for i := 0; ; i++ {
				if !yield(i) {
					return
				}
			}
		})
		defer stop()
		b.ResetTimer()
		for range b.N {
			next()
		}
	})
	b.Run("channel", func(b *testing.B) {
		b.ReportAllocs()
		ping, pong := make(chan struct{}), make(chan struct{})
		go func() {
			for range ping {
				pong <- struct{}{}
			}
		}()
		b.ResetTimer()
		for range b.N {
			ping <- struct{}{}
			<-pong
		}
		b.StopTimer()
		close(ping)
	})
}
