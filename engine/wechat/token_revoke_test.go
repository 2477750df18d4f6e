package wechat_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// clock is an injectable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func stableClient(t *testing.T, fake *wechattest.Server, now func() time.Time, tokens wechat.TokenCache) *wechat.Client {
	t.Helper()
	c, err := wechat.NewClient(wechat.ClientConfig{Base: fake.URL, AppID: appID, Secret: secret,
		TokenAPI: wechat.TokenAPIStable, Tokens: tokens, Now: now, HTTP: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRevokedStableTokenIsForcedOnce (issue: a revoked stable token is never
// recovered): after 40001, stable_token without force_refresh answers the
// same token; the client then asks once with force_refresh, at most once
// every 30 s, and says why when it may not.
func TestRevokedStableTokenIsForcedOnce(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	c := stableClient(t, fake, clk.Now, nil)
	ctx := context.Background()
	send := func() error { return c.SendKefu(ctx, text("oUser", "hi")) }
	if err := send(); err != nil {
		t.Fatal(err)
	}

	revoked := fake.RevokeStable()
	if err := send(); err != nil {
		t.Fatalf("send after a revocation: %v", err)
	}
	if n := fake.ForceRefreshes(); n != 1 {
		t.Errorf("%d force_refresh calls, want 1", n)
	}
	sends := fake.Delivered("/cgi-bin/message/custom/send")
	if last := sends[len(sends)-1].Token; last == revoked {
		t.Error("the send went out with the revoked token")
	}

	// A second revocation 10 s later: no force_refresh before 30 s.
	clk.Add(10 * time.Second)
	fake.RevokeStable()
	err := send()
	var fe *wechat.ForceRefreshError
	if !errors.As(err, &fe) {
		t.Fatalf("second revocation within 30 s: %v, want a *ForceRefreshError", err)
	}
	for _, want := range []string{"/cgi-bin/stable_token", "revoked", "the last one was 10s ago", "WeChat allows one every 30s", "2026-03-02T09:00:30Z"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !wechat.IsRetryable(err) {
		t.Error("a send waiting for the force_refresh gap is not retryable")
	}
	if n := fake.ForceRefreshes(); n != 1 {
		t.Errorf("%d force_refresh calls within 30 s, want 1", n)
	}
	clk.Add(19 * time.Second) // 29 s after the force
	if err := send(); !errors.As(err, &fe) {
		t.Errorf("29 s after the force: %v, want a *ForceRefreshError", err)
	}
	clk.Add(time.Second) // 30 s
	if err := send(); err != nil {
		t.Fatalf("30 s after the force: %v", err)
	}
	if n := fake.ForceRefreshes(); n != 2 {
		t.Errorf("%d force_refresh calls, want 2", n)
	}
	// Ordinary refreshes never force.
	fake.ExpireTokens()
	if err := send(); err != nil {
		t.Fatal(err)
	}
	if n := fake.ForceRefreshes(); n != 2 {
		t.Errorf("an expired (not revoked) token was forced: %d force_refresh calls, want 2", n)
	}
}

// TestForceRefreshDailyCap: at most 20 force_refresh calls in any 24 hours.
func TestForceRefreshDailyCap(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	c := stableClient(t, fake, clk.Now, nil)
	ctx := context.Background()
	send := func() error { return c.SendKefu(ctx, text("oUser", "hi")) }
	if err := send(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if i > 0 {
			clk.Add(time.Minute)
		}
		fake.RevokeStable()
		if err := send(); err != nil {
			t.Fatalf("revocation %d: %v", i+1, err)
		}
	}
	if n := fake.ForceRefreshes(); n != 20 {
		t.Fatalf("%d force_refresh calls, want 20", n)
	}
	clk.Add(time.Hour)
	fake.RevokeStable()
	err := send()
	var fe *wechat.ForceRefreshError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "20 in the last 24 hours, WeChat allows 20 a day") {
		t.Fatalf("21st revocation in a day: %v, want a *ForceRefreshError about the daily limit", err)
	}
	if want := start.Add(24 * time.Hour); !fe.RetryAt.Equal(want) {
		t.Errorf("RetryAt %v, want %v (the first force's time + 24 h)", fe.RetryAt, want)
	}
	clk.t = start.Add(24*time.Hour - time.Second)
	if err := send(); !errors.As(err, &fe) {
		t.Errorf("a second before the first force left the 24 hours: %v", err)
	}
	if n := fake.ForceRefreshes(); n != 20 {
		t.Errorf("%d force_refresh calls in 24 hours, want 20", n)
	}
	clk.t = start.Add(24 * time.Hour)
	if err := send(); err != nil {
		t.Fatalf("24 hours after the first force: %v", err)
	}
	if n := fake.ForceRefreshes(); n != 21 {
		t.Errorf("%d force_refresh calls, want 21", n)
	}
}

// sharedTokens is a TokenCache that keeps the force_refresh record for all
// the clients using it, as a shared (Redis) cache does.
type sharedTokens struct {
	slowReads
	mu     sync.Mutex
	forces []time.Time
}

func (s *sharedTokens) TakeForceRefresh(_ context.Context, now time.Time, gap, window time.Duration, limit int) (bool, []time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forces = slices.DeleteFunc(s.forces, func(t time.Time) bool { return now.Sub(t) >= window })
	if n := len(s.forces); n >= limit || n > 0 && now.Sub(s.forces[n-1]) < gap {
		return false, slices.Clone(s.forces), nil
	}
	s.forces = append(s.forces, now)
	return true, slices.Clone(s.forces), nil
}

// TestForceRefreshRecordIsShared: clients sharing a TokenCache that keeps
// the force_refresh record share WeChat's limits.
func TestForceRefreshRecordIsShared(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	shared := &sharedTokens{}
	a, b := stableClient(t, fake, clk.Now, shared), stableClient(t, fake, clk.Now, shared)
	ctx := context.Background()
	if err := a.SendKefu(ctx, text("o", "1")); err != nil {
		t.Fatal(err)
	}
	fake.RevokeStable()
	if err := a.SendKefu(ctx, text("o", "2")); err != nil {
		t.Fatal(err)
	}
	clk.Add(5 * time.Second)
	fake.RevokeStable()
	var fe *wechat.ForceRefreshError
	if err := b.SendKefu(ctx, text("o", "3")); !errors.As(err, &fe) {
		t.Errorf("another client's revocation 5 s after a force: %v, want a *ForceRefreshError", err)
	}
	if n := fake.ForceRefreshes(); n != 1 {
		t.Errorf("%d force_refresh calls, want 1", n)
	}
}
