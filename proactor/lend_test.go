package proactor

import "testing"

// TestLendPoolFillsPiecewise: reads take only the bytes they received from a shared
// buffer, the next read continues after them, a buffer nearly full is retired and goes
// back to the free list when its last piece is released, and a buffer whose pieces are
// all released while it is being filled starts again at its beginning.
func TestLendPoolFillsPiecewise(t *testing.T) {
	var p lendPool
	if err := p.configure(1024, 1); err != nil {
		t.Fatal(err)
	}
	id, off, room := p.get()
	if off != 0 || len(room) != 1024 {
		t.Fatalf("first read offered %d bytes at %d; want 1024 at 0", len(room), off)
	}
	a := p.commit(id, off, 100)
	id2, off2, room2 := p.get()
	if id2 != id || off2 != 100 || len(room2) != 924 {
		t.Fatalf("second read offered buffer %d at %d (%d bytes); want buffer %d at 100 (924 bytes)", id2, off2, len(room2), id)
	}
	b := p.commit(id2, off2, 900) // 24 bytes left: less than a sixteenth, retired
	if len(a) != 100 || cap(a) != 100 || len(b) != 900 || cap(b) != 900 {
		t.Fatalf("pieces %d/%d and %d/%d (len/cap); want 100/100 and 900/900", len(a), cap(a), len(b), cap(b))
	}
	id3, off3, _ := p.get()
	if id3 == id || off3 != 0 {
		t.Fatalf("read after the buffer was retired offered buffer %d at %d; want a fresh buffer", id3, off3)
	}
	p.commit(id3, off3, 0) // found nothing: the fresh buffer stays open, empty
	p.put(id)
	if len(p.free) != 0 {
		t.Fatal("a retired buffer went back with a piece still lent")
	}
	p.put(id)
	if len(p.free) != 1 || p.free[0] != id {
		t.Fatalf("free list %v after the retired buffer's last release; want [%d]", p.free, id)
	}

	i, o, _ := p.get()
	if i != id3 || o != 0 {
		t.Fatalf("read offered buffer %d at %d; want the open buffer %d at 0", i, o, id3)
	}
	p.commit(i, o, 10)
	p.put(id3)
	if _, off, _ := p.get(); off != 0 {
		t.Fatalf("a buffer with every piece released is offered at %d; want its beginning", off)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("releasing a buffer with no piece lent did not panic")
		}
	}()
	p.put(id)
}
