package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store/redis"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// TestReplicasShareOneClassicToken: replicas on the classic token API fetch
// one token between them, and a token error refreshes it once for all.
func TestReplicasShareOneClassicToken(t *testing.T) {
	prefix := fmt.Sprintf("wxbot-test-replicas-%d-%d:", os.Getpid(), time.Now().UnixNano())
	fake := wechattest.New("wxapp", "secret")
	defer fake.Close()
	var clients []*wechat.Client
	for i := 0; i < 3; i++ {
		s := openRedis(t, prefix, nil)
		defer s.Close()
		if i == 0 {
			defer cleanup(t, s)
		}
		c, err := wechat.NewClient(wechat.ClientConfig{Base: fake.URL, AppID: "wxapp", Secret: "secret",
			TokenAPI: wechat.TokenAPIClassic, Tokens: s.TokenCache("wxapp"), HTTP: &http.Client{Timeout: 5 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	send := func(c *wechat.Client) error {
		return c.SendKefu(context.Background(), &wechat.KefuMessage{ToUser: "o", MsgType: "text", Text: &wechat.KefuText{Content: "x"}})
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		for j := 0; j < 5; j++ {
			wg.Add(1)
			go func() { defer wg.Done(); send(c) }()
		}
	}
	wg.Wait()
	if n := fake.TokenFetches(); n != 1 {
		t.Errorf("%d token fetches by 3 replicas, want 1", n)
	}
	fake.ExpireTokens()
	for _, c := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); send(c) }()
	}
	wg.Wait()
	if n := fake.TokenFetches(); n != 2 {
		t.Errorf("%d token fetches after one expiry, want 2", n)
	}
	if n := len(fake.Delivered("/cgi-bin/message/custom/send")); n != 18 {
		t.Errorf("%d sends delivered, want 18", n)
	}
}

var _ wechat.ForceRefreshLimiter = (*redis.Tokens)(nil)

// TestRedisForceRefreshRecord: at most limit force_refresh calls in the
// window, gap apart; the times recorded come back oldest first.
func TestRedisForceRefreshRecord(t *testing.T) {
	prefix := fmt.Sprintf("wxbot-test-force-%d-%d:", os.Getpid(), time.Now().UnixNano())
	s := openRedis(t, prefix, nil)
	defer s.Close()
	defer cleanup(t, s)
	ctx := context.Background()
	tc := s.TokenCache("wxapp")
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	take := func(at time.Time) (bool, []time.Time) {
		t.Helper()
		ok, recent, err := tc.TakeForceRefresh(ctx, at, 30*time.Second, 24*time.Hour, 20)
		if err != nil {
			t.Fatal(err)
		}
		return ok, recent
	}
	if ok, recent := take(t0); !ok || len(recent) != 1 || !recent[0].Equal(t0) {
		t.Fatalf("first: %v %v", ok, recent)
	}
	if ok, recent := take(t0.Add(29 * time.Second)); ok || len(recent) != 1 {
		t.Errorf("29 s later: %v %v, want refused", ok, recent)
	}
	for i := 1; i < 20; i++ {
		if ok, recent := take(t0.Add(time.Duration(i) * 30 * time.Second)); !ok || len(recent) != i+1 {
			t.Fatalf("force %d: %v %d", i+1, ok, len(recent))
		}
	}
	ok, recent := take(t0.Add(time.Hour))
	if ok || len(recent) != 20 || !recent[0].Equal(t0) || !recent[19].Equal(t0.Add(19*30*time.Second)) {
		t.Errorf("21st in a day: %v %v, want refused with the 20 times", ok, recent)
	}
	// Another replica's view of the same record.
	if ok, _, _ := s.TokenCache("wxapp").TakeForceRefresh(ctx, t0.Add(2*time.Hour), 30*time.Second, 24*time.Hour, 20); ok {
		t.Error("another handle on the same record allowed a 21st")
	}
	if ok, recent := take(t0.Add(24 * time.Hour)); !ok || len(recent) != 20 || recent[0].Equal(t0) {
		t.Errorf("24 h after the first: %v %v, want allowed, the first gone", ok, recent)
	}
}

// TestReplicasShareForceRefreshLimits: replicas on the stable token API
// sharing a redis:// store recover a revoked token with one force_refresh
// between them, and another replica does not force again within 30 s.
func TestReplicasShareForceRefreshLimits(t *testing.T) {
	prefix := fmt.Sprintf("wxbot-test-revoke-%d-%d:", os.Getpid(), time.Now().UnixNano())
	fake := wechattest.New("wxapp", "secret")
	defer fake.Close()
	var mu sync.Mutex
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	var clients []*wechat.Client
	for i := 0; i < 2; i++ {
		s := openRedis(t, prefix, nil)
		defer s.Close()
		if i == 0 {
			defer cleanup(t, s)
		}
		c, err := wechat.NewClient(wechat.ClientConfig{Base: fake.URL, AppID: "wxapp", Secret: "secret", Now: clock,
			TokenAPI: wechat.TokenAPIStable, Tokens: s.TokenCache("wxapp"), HTTP: &http.Client{Timeout: 5 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	a, b := clients[0], clients[1]
	send := func(c *wechat.Client) error {
		return c.SendKefu(context.Background(), &wechat.KefuMessage{ToUser: "o", MsgType: "text", Text: &wechat.KefuText{Content: "x"}})
	}
	if err := send(a); err != nil {
		t.Fatal(err)
	}
	fake.RevokeStable()
	if err := send(a); err != nil {
		t.Fatalf("send after a revocation: %v", err)
	}
	if err := send(b); err != nil { // the new token, from the shared cache
		t.Fatalf("the other replica: %v", err)
	}
	if n := fake.ForceRefreshes(); n != 1 {
		t.Errorf("%d force_refresh calls, want 1", n)
	}
	advance(5 * time.Second)
	fake.RevokeStable()
	var fe *wechat.ForceRefreshError
	if err := send(b); !errors.As(err, &fe) || !strings.Contains(err.Error(), "the last one was 5s ago") {
		t.Errorf("another replica 5 s after a force: %v, want a *ForceRefreshError", err)
	}
	if n := fake.ForceRefreshes(); n != 1 {
		t.Errorf("%d force_refresh calls within 30 s, want 1", n)
	}
	advance(25 * time.Second)
	if err := send(b); err != nil {
		t.Fatalf("30 s after the force: %v", err)
	}
	if n := fake.ForceRefreshes(); n != 2 {
		t.Errorf("%d force_refresh calls, want 2", n)
	}
}
