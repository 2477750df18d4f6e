package dedup

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestDedup(t *testing.T) {
	now := time.Unix(1000, 0)
	d := NewLocal(time.Minute, func() time.Time { return now })
	f, first := d.claimAnswer("k")
	if !first {
		t.Fatal("first Claim: not first")
	}
	g, again := d.claimAnswer("k")
	if again || g != f {
		t.Fatal("second Claim: claimed again")
	}
	got := make(chan string)
	go func() {
		_, body, _ := g.Wait(context.Background())
		got <- string(body)
	}()
	f.Finish("text/plain", []byte("answer"))
	if s := <-got; s != "answer" {
		t.Errorf("waiter got %q", s)
	}

	now = now.Add(90 * time.Second) // one rotation: still remembered
	if _, first := d.claimAnswer("k"); first {
		t.Error("forgotten after one TTL; want kept between TTL and 2×TTL")
	}
	now = now.Add(5 * time.Minute) // long idle: everything is stale
	if _, first := d.claimAnswer("k"); !first {
		t.Error("remembered after a long idle time")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h, _ := d.claimAnswer("pending")
	if _, _, err := h.Wait(ctx); err == nil {
		t.Error("Wait on a cancelled context returned no error")
	}
}

func TestDedupKeepsFinishedAnswersAndCaps(t *testing.T) {
	now := time.Unix(1000, 0)
	d := NewLocal(time.Minute, func() time.Time { return now })
	f, _ := d.claimAnswer("push-1")
	f.Finish("application/xml; charset=utf-8", []byte("<xml>reply</xml>"))
	a, first := d.claimAnswer("push-1")
	if first {
		t.Fatal("a finished push was claimed again")
	}
	ct, body, err := a.Wait(context.Background())
	if err != nil || ct != "application/xml; charset=utf-8" || string(body) != "<xml>reply</xml>" {
		t.Errorf("retry got %q %q %v", ct, body, err)
	}
	// Past the cap, the oldest generation goes early: memory stays bounded.
	for i := 0; i < 3*DefaultBytes/(entryBytes+8); i++ {
		g, _ := d.claimAnswer(fmt.Sprint("load-", i))
		g.Finish("text/plain; charset=utf-8", []byte("success"))
	}
	if d.EarlyRotations.Load() == 0 {
		t.Error("no early rotation under 3× the cap")
	}
	n := 0
	for i := range d.shards {
		n += d.shards[i].cur.bytes() + d.shards[i].prev.bytes() + len(d.shards[i].inflight)*entryBytes
	}
	if n > DefaultBytes+2*32*(entryBytes+8) { // each generation may pass its budget by one answer
		t.Errorf("%d bytes kept, budget %d", n, DefaultBytes)
	}
}

// TestLocalPersistAndPreload: a finished answer is handed to Persist with
// its key and end; preloaded into a new Local (after a restart), a retry of
// the push gets the same bytes and is not first.
func TestLocalPersistAndPreload(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	d := NewLocal(30*time.Second, clock)
	type kept struct {
		key, ct, body string
		until         time.Time
	}
	var got []kept
	d.Persist = func(key, ct string, body []byte, until time.Time) {
		got = append(got, kept{key, ct, string(body), until})
	}
	a, _ := d.claimAnswer("gh/m/1")
	a.Finish("application/xml; charset=utf-8", []byte("<xml>hi</xml>"))
	if len(got) != 1 || got[0] != (kept{"gh/m/1", "application/xml; charset=utf-8", "<xml>hi</xml>", now.Add(30 * time.Second)}) {
		t.Fatalf("persisted %+v", got)
	}

	restarted := NewLocal(30*time.Second, clock)
	restarted.Persist = d.Persist
	restarted.Preload("gh/m/1", "application/xml; charset=utf-8", []byte("<xml>hi</xml>"))
	r, first := restarted.claimAnswer("gh/m/1")
	if first {
		t.Fatal("a preloaded push ran again")
	}
	ct, body, _ := r.Wait(context.Background())
	if ct != "application/xml; charset=utf-8" || string(body) != "<xml>hi</xml>" {
		t.Errorf("retry got %q %q", ct, body)
	}
	if len(got) != 1 {
		t.Errorf("a preloaded answer was persisted again: %+v", got)
	}
}

// TestLocalMemoryAllocatedWithinBudget: full of answers, a Local holds
// about the memory it was given (its index counted at its real cost, its
// arenas grown only up to the budget), whatever the answers' size: 16-byte
// hashes (the replay memory), replies, long replies.
func TestLocalMemoryAllocatedWithinBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what is allocated")
	}
	for _, bodyLen := range []int{16, 150, 600} {
		const budget = 2 << 20
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d := NewLocalSized(time.Hour, budget, nil)
		body := make([]byte, bodyLen)
		for i := range 200000 {
			a, _ := d.claimAnswer("key-" + strconv.Itoa(i))
			a.Finish("text/plain; charset=utf-8", body)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(d)
		if ratio := float64(after.HeapAlloc-before.HeapAlloc) / budget; ratio > 1.3 || d.EarlyRotations.Load() == 0 {
			t.Errorf("%d-byte answers: %.2f× the budget (%d early rotations); want at most 1.3× once full",
				bodyLen, ratio, d.EarlyRotations.Load())
		}
	}
}
