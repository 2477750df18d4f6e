package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// TokenCache holds the current access_token. The in-process one is used
// unless replicas share one.
type TokenCache interface {
	// Get returns the cached token and its expiry, or "" if none.
	Get(ctx context.Context) (token string, expires time.Time, err error)
	// Set stores a token.
	Set(ctx context.Context, token string, expires time.Time) error
	// Invalidate drops the token if it is still bad (compare and delete), so
	// that a token someone else already refreshed is kept.
	Invalidate(ctx context.Context, bad string) error
}

// TokenLocker is implemented by a shared TokenCache whose replicas must not
// fetch tokens at the same time (the classic API invalidates the previous
// token on every fetch).
type TokenLocker interface {
	// LockRefresh takes the refresh lock for at most ttl; acquired is false
	// when another replica holds it.
	LockRefresh(ctx context.Context, ttl time.Duration) (release func(), acquired bool, err error)
}

// ForceRefreshLimiter is implemented by a shared TokenCache that records
// the stable_token calls with force_refresh: true of all its replicas, so
// that together they keep within WeChat's limits (20 a day, at least 30 s
// apart). A Client whose TokenCache lacks it keeps the record in its process.
type ForceRefreshLimiter interface {
	// TakeForceRefresh records a force_refresh at now, unless one is
	// recorded less than gap before now or limit are recorded in the window
	// before now. It returns whether it recorded one, and the times
	// recorded in the window before now, oldest first (now included when it
	// recorded one).
	TakeForceRefresh(ctx context.Context, now time.Time, gap, window time.Duration, limit int) (taken bool, recent []time.Time, err error)
}

// WeChat's limits on stable_token with force_refresh: true (protocol notes
// §5.2). The day is counted as any 24 hours, which also keeps within 20 per
// calendar day however WeChat counts it.
const (
	forceRefreshGap    = 30 * time.Second
	forceRefreshWindow = 24 * time.Hour
	forceRefreshPerDay = 20
)

// rejectedMemory is how long a token WeChat rejected is remembered: a
// stable token lives at most 7200 s, so one rejected longer ago cannot come
// back from stable_token.
const rejectedMemory = 2 * time.Hour

// ForceRefreshError means WeChat rejected the access_token (40001, 40014,
// 42001), /cgi-bin/stable_token answers that same token (within its
// validity it returns the same one: the token was revoked), and asking with
// force_refresh now would break WeChat's limits. API calls fail until
// RetryAt; IsRetryable reports true.
type ForceRefreshError struct {
	Count     int           // force_refresh calls in the last 24 hours
	SinceLast time.Duration // since the last one
	RetryAt   time.Time     // when the limits allow the next one
}

func (e *ForceRefreshError) Error() string {
	s := "wechat api /cgi-bin/stable_token: it answers the access_token WeChat just rejected (revoked), and a force_refresh is not allowed now: "
	if e.Count >= forceRefreshPerDay {
		s += fmt.Sprintf("%d in the last 24 hours, WeChat allows %d a day", e.Count, forceRefreshPerDay)
	} else {
		s += fmt.Sprintf("the last one was %s ago, WeChat allows one every %s", e.SinceLast.Round(time.Second), forceRefreshGap)
	}
	return s + "; next allowed at " + e.RetryAt.Format(time.RFC3339)
}

// Token returns a valid access_token, fetching one when the cache has none
// or it expires within RefreshAhead.
func (c *Client) Token(ctx context.Context) (string, error) {
	// Which refresh ended last is noted before the cache is read: if another
	// one ends between the read and the lock below, its token is newer than
	// what was read, and fetching again would be a second fetch for one
	// refresh (with the classic API, one that replaces the first token).
	c.mu.Lock()
	seen := c.last
	c.mu.Unlock()
	tok, exp, err := c.cfg.Tokens.Get(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the cached access_token: %w", err)
	}
	if tok != "" && c.cfg.Now().Add(c.cfg.RefreshAhead).Before(exp) {
		return tok, nil
	}
	c.mu.Lock()
	if f := c.last; f != seen {
		c.mu.Unlock()
		return c.outcome(ctx, f)
	}
	if f := c.cur; f != nil {
		// One refresh at a time; the others wait for it and share its token.
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return c.outcome(ctx, f)
	}
	f := &flight{done: make(chan struct{})}
	c.cur = f
	c.mu.Unlock()

	f.tok, f.err = c.refresh(ctx)
	c.mu.Lock()
	c.cur, c.last = nil, f
	c.mu.Unlock()
	close(f.done)
	return c.outcome(ctx, f)
}

// outcome is what a caller of Token gets from an ended refresh: its token,
// or, when it failed, the cached token while that has not expired.
func (c *Client) outcome(ctx context.Context, f *flight) (string, error) {
	if f.err == nil {
		return f.tok, nil
	}
	if tok, exp, _ := c.cfg.Tokens.Get(ctx); tok != "" && c.cfg.Now().Before(exp) {
		c.log.Warn("access_token refresh failed; using the current one until it expires", "err", f.err)
		return tok, nil
	}
	return "", f.err
}

// refresh fetches a token, or, when another replica holds the shared refresh
// lock, waits for the token it fetches.
func (c *Client) refresh(ctx context.Context) (string, error) {
	locker, ok := c.cfg.Tokens.(TokenLocker)
	if !ok {
		return c.fetchToken(ctx)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		release, acquired, err := locker.LockRefresh(ctx, 15*time.Second)
		if err != nil {
			return "", fmt.Errorf("taking the token refresh lock: %w", err)
		}
		if acquired {
			defer release()
			// Another replica may have refreshed while we waited for the lock.
			if tok, exp, err := c.cfg.Tokens.Get(ctx); err == nil && tok != "" && c.cfg.Now().Add(c.cfg.RefreshAhead).Before(exp) {
				return tok, nil
			}
			return c.fetchToken(ctx)
		}
		if time.Now().After(deadline) {
			return "", errors.New("another replica holds the token refresh lock and no token appeared in 15s")
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if tok, exp, err := c.cfg.Tokens.Get(ctx); err == nil && tok != "" && c.cfg.Now().Add(c.cfg.RefreshAhead).Before(exp) {
			return tok, nil
		}
	}
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	apiStatus
}

func (c *Client) fetchToken(ctx context.Context) (string, error) {
	ans, err := c.fetch(ctx, false)
	if err == nil && c.cfg.TokenAPI == TokenAPIStable && c.wasRejected(ans.AccessToken) {
		ans, err = c.forceRefresh(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("fetching the access_token: %w", err)
	}
	if ans.ExpiresIn <= 0 {
		ans.ExpiresIn = 7200
	}
	exp := c.cfg.Now().Add(time.Duration(ans.ExpiresIn) * time.Second)
	if err := c.cfg.Tokens.Set(ctx, ans.AccessToken, exp); err != nil {
		return "", fmt.Errorf("caching the access_token: %w", err)
	}
	c.log.Info("access_token refreshed", "api", c.cfg.TokenAPI, "expires_in", ans.ExpiresIn)
	return ans.AccessToken, nil
}

// fetch asks the token API once; force sets force_refresh (stable API).
func (c *Client) fetch(ctx context.Context, force bool) (tokenAnswer, error) {
	var ans tokenAnswer
	var path string
	var err error
	if c.cfg.TokenAPI == TokenAPIClassic {
		path = "/cgi-bin/token"
		q := url.Values{"grant_type": {"client_credential"}, "appid": {c.cfg.AppID}, "secret": {c.cfg.Secret.Reveal()}}
		err = c.roundTrip(ctx, http.MethodGet, path, q, nil, &ans)
	} else {
		path = "/cgi-bin/stable_token"
		body := map[string]any{"grant_type": "client_credential", "appid": c.cfg.AppID,
			"secret": c.cfg.Secret.Reveal(), "force_refresh": force}
		err = c.roundTrip(ctx, http.MethodPost, path, nil, body, &ans)
	}
	if err == nil {
		err = ans.err(path)
	}
	if err == nil && ans.AccessToken == "" {
		err = fmt.Errorf("wechat api %s: answer without access_token", path)
	}
	if c.cfg.OnRefresh != nil {
		c.cfg.OnRefresh(err)
	}
	return ans, err
}

// forceRefresh asks stable_token for a new token with force_refresh, if
// WeChat's limits allow one now (for all replicas, when the TokenCache
// keeps the record).
func (c *Client) forceRefresh(ctx context.Context) (tokenAnswer, error) {
	now := c.cfg.Now()
	taken, recent, err := c.forces.TakeForceRefresh(ctx, now, forceRefreshGap, forceRefreshWindow, forceRefreshPerDay)
	if err != nil {
		return tokenAnswer{}, fmt.Errorf("recording the force_refresh: %w", err)
	}
	if !taken {
		fe := &ForceRefreshError{Count: len(recent)}
		if n := len(recent); n > 0 {
			fe.SinceLast = now.Sub(recent[n-1])
			fe.RetryAt = recent[n-1].Add(forceRefreshGap)
			if n >= forceRefreshPerDay {
				// The oldest of the last 20 has to leave the 24 hours.
				if t := recent[n-forceRefreshPerDay].Add(forceRefreshWindow); t.After(fe.RetryAt) {
					fe.RetryAt = t
				}
			}
		}
		c.log.Error("access_token revoked and force_refresh not allowed now", "err", fe)
		return tokenAnswer{}, fe
	}
	c.log.Warn("access_token revoked: stable_token answers the token WeChat rejected; asking with force_refresh",
		"force_refreshes_24h", len(recent))
	return c.fetch(ctx, true)
}

// rejectToken notes that WeChat rejected tok and drops it from the cache if
// it is still there (compare and delete).
func (c *Client) rejectToken(ctx context.Context, tok string) error {
	now := c.cfg.Now()
	c.mu.Lock()
	for t, at := range c.rejected {
		if now.Sub(at) >= rejectedMemory {
			delete(c.rejected, t)
		}
	}
	c.rejected[tok] = now
	c.mu.Unlock()
	return c.cfg.Tokens.Invalidate(ctx, tok)
}

// wasRejected reports whether WeChat rejected tok in this process lately.
func (c *Client) wasRejected(tok string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.rejected[tok]
	return ok && c.cfg.Now().Sub(at) < rejectedMemory
}

// memoryTokens is the in-process TokenCache.
type memoryTokens struct {
	mu      sync.Mutex
	token   string
	expires time.Time
}

func (m *memoryTokens) Get(context.Context) (string, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.token, m.expires, nil
}

func (m *memoryTokens) Set(_ context.Context, token string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.token, m.expires = token, expires
	return nil
}

func (m *memoryTokens) Invalidate(_ context.Context, bad string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.token == bad {
		m.token, m.expires = "", time.Time{}
	}
	return nil
}

// localForces is the in-process ForceRefreshLimiter, for a TokenCache that
// is not shared (or does not keep the record).
type localForces struct {
	mu    sync.Mutex
	times []time.Time
}

func (l *localForces) TakeForceRefresh(_ context.Context, now time.Time, gap, window time.Duration, limit int) (bool, []time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.times = slices.DeleteFunc(l.times, func(t time.Time) bool { return now.Sub(t) >= window })
	if n := len(l.times); n >= limit || n > 0 && now.Sub(l.times[n-1]) < gap {
		return false, slices.Clone(l.times), nil
	}
	l.times = append(l.times, now)
	return true, slices.Clone(l.times), nil
}
