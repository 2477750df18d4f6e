package wechat_test

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// slowReads is an in-process TokenCache whose reads yield the processor
// after reading, as a store's round trip would: a caller that read "no
// token" may then run only after another caller's refresh has ended.
type slowReads struct {
	mu      sync.Mutex
	token   string
	expires time.Time
	// afterEmptyRead, when set, runs after a read that found no token.
	afterEmptyRead func()
}

func (m *slowReads) Get(context.Context) (string, time.Time, error) {
	m.mu.Lock()
	tok, exp, hook := m.token, m.expires, m.afterEmptyRead
	m.mu.Unlock()
	if tok == "" && hook != nil {
		hook()
	}
	runtime.Gosched()
	return tok, exp, nil
}

func (m *slowReads) Set(_ context.Context, token string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.token, m.expires = token, expires
	return nil
}

func (m *slowReads) Invalidate(_ context.Context, bad string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.token == bad {
		m.token, m.expires = "", time.Time{}
	}
	return nil
}

// TestOneFetchPerRefresh: many callers asking for a token on an empty cache
// make one fetch between them, however they interleave (issue: two token
// fetches for one refresh, classic mode: a caller that read the empty cache
// just before another's refresh ended used to fetch a second token).
// 300 rounds of 16 callers; the old code failed most runs of this test.
func TestOneFetchPerRefresh(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	hc := &http.Client{Timeout: 5 * time.Second}
	ctx := context.Background()
	const rounds, callers = 300, 16
	for round := 0; round < rounds; round++ {
		before := fake.TokenFetches()
		c, err := wechat.NewClient(wechat.ClientConfig{Base: fake.URL, AppID: appID, Secret: secret,
			TokenAPI: wechat.TokenAPIClassic, Tokens: &slowReads{}, HTTP: hc})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var tokens sync.Map
		for i := 0; i < callers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := c.Token(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				tokens.Store(tok, true)
			}()
		}
		wg.Wait()
		n, distinct := fake.TokenFetches()-before, 0
		tokens.Range(func(any, any) bool { distinct++; return true })
		if n != 1 || distinct != 1 {
			t.Fatalf("round %d: %d token fetches and %d distinct tokens for %d callers on an empty cache, want 1 and 1", round, n, distinct, callers)
		}
	}
}

// TestRefreshEndingBetweenReadAndLock forces the interleaving of the issue:
// caller A reads the empty cache, caller B refreshes the token in full, then
// A goes on. A must take B's token, not fetch another.
func TestRefreshEndingBetweenReadAndLock(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	cache := &slowReads{}
	c, err := wechat.NewClient(wechat.ClientConfig{Base: fake.URL, AppID: appID, Secret: secret,
		TokenAPI: wechat.TokenAPIClassic, Tokens: cache, HTTP: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var reads atomic.Int32
	aRead, release, aDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	cache.afterEmptyRead = func() {
		if reads.Add(1) == 1 { // A: wait here until B's refresh has ended
			close(aRead)
			<-release
		}
	}
	var aTok string
	var aErr error
	go func() {
		defer close(aDone)
		aTok, aErr = c.Token(ctx)
	}()
	<-aRead
	bTok, err := c.Token(ctx) // B: reads the empty cache, fetches
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	<-aDone
	if aErr != nil || aTok != bTok {
		t.Errorf("A got %q, %v; want B's token %q", aTok, aErr, bTok)
	}
	if n := fake.TokenFetches(); n != 1 {
		t.Errorf("%d token fetches, want 1", n)
	}
}
