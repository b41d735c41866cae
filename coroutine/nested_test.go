package coroutine_test

import (
	"strings"
	"testing"

	"github.com/coionet/coio/coroutine"
	"github.com/coionet/coio/internal/testctx"
)

// TestCoroutine_SuspendInsideNestedPoll: a coroutine calls Poll, and a handler that
// Poll runs suspends it. The nested run call's runner was registered under the
// identity the coroutine borrowed from the goroutine that resumed it; once the
// coroutine is suspended, that goroutine is no runner of the Context (its RunOne has
// returned), so Dispatch from it must post, not run inline as if it were inside a
// handler. Before the fix it found the nested runner, still registered, and ran h at
// once — and its posts and work counts went to a runner whose loop the resumed
// coroutine runs on another goroutine.
func TestCoroutine_SuspendInsideNestedPoll(t *testing.T) {
	ctx := testctx.New(t)
	var order []string
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		ctx.Post(func() {
			order = append(order, "polled")
			y.Post() // suspend inside the nested Poll; resumed by a posted handler
			order = append(order, "resumed")
		})
		n := ctx.Poll()
		order = append(order, "poll returned")
		if n < 1 {
			t.Errorf("the nested Poll ran %d handlers; want at least its own 1", n)
		}
	})
	if n := ctx.RunOne(); n != 1 {
		t.Fatalf("RunOne ran %d handlers; want 1 (the coroutine's first resumption)", n)
	}
	inline := false
	ctx.Dispatch(func() { inline = true })
	if inline {
		t.Error("Dispatch ran its handler inline on a goroutine outside any run call: it found the nested run call of the suspended coroutine")
	}
	ctx.Run() // the coroutine is resumed, its Poll returns, and the dispatched handler runs
	if !inline {
		t.Fatal("the dispatched handler never ran")
	}
	if want := "polled resumed poll returned"; strings.Join(order, " ") != want {
		t.Fatalf("the coroutine went %q; want %q", strings.Join(order, " "), want)
	}
}
