package strand_test

import (
	"fmt"
	"sync"

	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/strand"
)

// Handlers posted to a strand never overlap, even with several runners, so the state
// they share needs no lock; they run in the order they were posted.
func ExampleStrand() {
	ctx, _ := iocontext.New()
	defer ctx.Close()
	s := strand.New(ctx)
	var log []int // touched only by the strand's handlers
	for i := range 5 {
		s.Post(func() { log = append(log, i) })
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx.Run()
		}()
	}
	wg.Wait()
	fmt.Println(log)
	// Output: [0 1 2 3 4]
}
