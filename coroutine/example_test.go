package coroutine_test

import (
	"fmt"
	"time"

	"github.com/coionet/coio/coroutine"
	"github.com/coionet/coio/iocontext"
)

// A coroutine is sequential code that suspends at each operation without blocking a
// runner; SpawnWith's handler runs when it returns.
func ExampleSpawnWith() {
	ctx, _ := iocontext.New()
	defer ctx.Close()
	coroutine.SpawnWith(ctx, func(y *coroutine.Yield) {
		for i := range 3 {
			y.Sleep(time.Millisecond)
			fmt.Println("tick", i)
		}
	}, func(panicked any) { fmt.Println("done, panic:", panicked) })
	ctx.Run()
	// Output:
	// tick 0
	// tick 1
	// tick 2
	// done, panic: <nil>
}
