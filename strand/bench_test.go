package strand_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/coionet/coio/internal/testctx"

	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/strand"
)

// BenchmarkStrandVsMutex: 64 chains of handlers each updating shared state, serialized
// by a strand against the same handlers serialized by a sync.Mutex, on 1 and 2 runners.
func BenchmarkStrandVsMutex(b *testing.B) {
	for _, runners := range []int{1, 2} {
		b.Run(fmt.Sprintf("strand/runners=%d", runners), func(b *testing.B) {
			b.ReportAllocs()
			ctx, _ := iocontext.New()
			defer ctx.Close()
			s := strand.New(ctx)
			counter := 0
			left := b.N
			var step func()
			step = func() {
				counter++
				left--
				if left > 0 {
					s.Post(step)
				}
			}
			for range min(64, b.N) {
				s.Post(step)
			}
			testctx.RunN(ctx, runners)
		})
		b.Run(fmt.Sprintf("mutex/runners=%d", runners), func(b *testing.B) {
			b.ReportAllocs()
			ctx, _ := iocontext.New()
			defer ctx.Close()
			var mu sync.Mutex
			counter := 0
			left := b.N
			var step func()
			step = func() {
				mu.Lock()
				counter++
				left--
				more := left > 0
				mu.Unlock()
				if more {
					ctx.Post(step)
				}
			}
			for range min(64, b.N) {
				ctx.Post(step)
			}
			testctx.RunN(ctx, runners)
		})
	}
}
