package console

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/store/memory"
)

// TestActivityHandoffs: an account's Activity page lists its users in a
// handoff, a waiting one (a click on the transfer key) and one an agent
// holds (kf_create_session), with the OpenID shortened and since in the
// console's time zone; another account's page lists none of them.
func TestActivityHandoffs(t *testing.T) {
	f := newFleetHarness(t)
	f.srv.cfg.Location = time.FixedZone("CST", 8*3600)
	at := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	eng := engine.New(engine.Options{State: memory.New(clock), Now: clock})
	t.Cleanup(func() { eng.Close(context.Background()) })
	f.mu.Lock()
	shop := f.accts["shop"]
	eng.SetRules(shop.Engine.Rules())
	shop.Engine = eng
	f.accts["shop"] = shop
	f.mu.Unlock()
	for _, ev := range []*engine.Event{
		{Type: "click", From: "oWAITabcdefghijklmnop0001", Key: "ONLINE_KF"},
		{Type: "kf_create_session", From: "oHELDabcdefghijklmnop0002", KfAccount: "test1@kftest"},
	} {
		if _, err := eng.Dispatch(ev).Finish(context.Background()); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Minute)
	}
	alice := f.browser()
	alice.login("alice")
	cases := []struct {
		page      string
		want, not []string
	}{
		{"/a/shop/activity", []string{
			`<strong id="kf-held">1</strong>`, `<strong id="kf-waiting">1</strong>`,
			"<code>oWAIT…0001</code></td><td><em>waiting</em></td><td>2026-12-06 10:00:00 CST",
			"<code>oHELD…0002</code></td><td>test1@kftest</td><td>2026-12-06 10:01:00 CST",
		}, []string{"oWAITabcdefghijklmnop0001"}},
		{"/a/news/activity", []string{`<strong id="kf-held">0</strong>`, `<strong id="kf-waiting">0</strong>`}, []string{"oWAIT", "oHELD"}},
	}
	for _, c := range cases {
		code, body, _ := alice.do("GET", c.page, nil)
		if code != 200 {
			t.Fatalf("%s: %d\n%s", c.page, code, body)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q:\n%s", c.page, w, body)
			}
		}
		for _, n := range c.not {
			if strings.Contains(body, n) {
				t.Errorf("%s shows %q", c.page, n)
			}
		}
	}
}

func TestShortOpenID(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "o6_bm…fL2M"},
		{"oShort", "oShort"},
		{"", ""},
	} {
		if got := shortOpenID(c.in); got != c.want {
			t.Errorf("shortOpenID(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
