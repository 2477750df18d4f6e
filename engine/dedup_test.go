package engine

import (
	"context"
	"testing"
	"time"
)

func TestDedup(t *testing.T) {
	now := time.Unix(1000, 0)
	d := NewDedup(time.Minute, func() time.Time { return now })
	f, first := d.claim("k")
	if !first {
		t.Fatal("first Claim: not first")
	}
	g, again := d.claim("k")
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
	if _, first := d.claim("k"); first {
		t.Error("forgotten after one TTL; want kept between TTL and 2×TTL")
	}
	now = now.Add(5 * time.Minute) // long idle: everything is stale
	if _, first := d.claim("k"); !first {
		t.Error("remembered after a long idle time")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h, _ := d.claim("pending")
	if _, _, err := h.Wait(ctx); err == nil {
		t.Error("Wait on a cancelled context returned no error")
	}
}
