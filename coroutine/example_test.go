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

// ReadLent reads into a buffer lent by the Context: a connection waiting for data
// holds none. Release gives the buffer back once its bytes are used.
func ExampleYield_ReadLent() {
	ctx, _ := iocontext.New()
	defer ctx.Close()
	ln, _ := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	coroutine.Spawn(ctx, func(y *coroutine.Yield) { // the server: an echo of one message
		c, err := y.Accept(ln)
		ln.Close()
		if err != nil {
			return
		}
		defer c.Close()
		b, err := y.ReadLent(c)
		if err != nil {
			return
		}
		y.Write(c, b.B)
		b.Release()
	})
	coroutine.Spawn(ctx, func(y *coroutine.Yield) { // the client
		c, err := y.Dial("tcp4", ln.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		y.Write(c, []byte("hello"))
		got := make([]byte, 5)
		y.ReadFull(c, got)
		fmt.Println(string(got))
	})
	ctx.Run()
	// Output: hello
}
