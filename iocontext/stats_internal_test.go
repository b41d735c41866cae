package iocontext

import (
	"testing"

	"github.com/coionet/coio/proactor"
)

// BenchmarkCountTry is what counting one Try operation and its syscall costs: from a
// handler (a coroutine's fast path: the runner lookup, a plain add and the syscall
// count's atomic add) and from outside the runners (atomic adds on the shared
// counters).
func BenchmarkCountTry(b *testing.B) {
	c, err := New()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.Run("runner", func(b *testing.B) {
		done := make(chan struct{})
		c.Post(func() {
			b.ResetTimer()
			for range b.N {
				c.countTry(proactor.OpRead, true, nil, 1)
			}
			close(done)
		})
		c.Run()
		<-done
		c.Restart()
	})
	b.Run("outside", func(b *testing.B) {
		for range b.N {
			c.countTry(proactor.OpRead, true, nil, 1)
		}
	})
}
