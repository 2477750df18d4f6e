package actions

import (
	"context"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine"
)

func TestTransfer(t *testing.T) {
	for _, tt := range []struct {
		kf, want string
	}{
		{"", ""},
		{"test1@kftest", "test1@kftest"},
		{"${vars.kf}", "vip@kftest"},
	} {
		p := &TransferParams{KfAccount: tpl(tt.kf)}
		if err := p.Validate(); err != nil {
			t.Fatalf("Validate(%q): %v", tt.kf, err)
		}
		spec, _ := engine.LookupAction("transfer")
		a, _ := spec.New(p)
		ev := &engine.Event{Type: "text"}
		c, reply := engine.NewTestCall(ev, engine.NewEnv(ev, map[string]any{"kf": "vip@kftest"}, time.Now, time.UTC), nil)
		if err := a.Run(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		if r := reply(); r == nil || r.Type != "transfer_customer_service" || r.KfAccount != tt.want {
			t.Errorf("kf_account %q: reply %+v, want transfer to %q", tt.kf, r, tt.want)
		}
	}
	if err := (&TransferParams{KfAccount: tpl("nobody")}).Validate(); err == nil {
		t.Error("kf_account without @ validated")
	}
}
