package dedup

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// fakeShared is the shared cache (Redis) as Fallback sees it: it answers
// with ans and first, fails with err, or, hanging, waits for its context
// to end. It records each claim's key and context.
type fakeShared struct {
	ans   Answer
	first bool
	err   error
	hang  bool
	keys  []string
	ctxs  []context.Context
}

func (s *fakeShared) Claim(ctx context.Context, key string) (Answer, bool, error) {
	s.keys = append(s.keys, key)
	s.ctxs = append(s.ctxs, ctx)
	if s.hang {
		<-ctx.Done()
		return nil, false, ctx.Err()
	}
	if s.err != nil {
		return nil, false, s.err
	}
	return s.ans, s.first, nil
}

// fakeBreaker allows claims on the shared cache or not, and records the
// reports it hears.
type fakeBreaker struct {
	allow   bool
	allows  int
	reports []report
}

type report struct {
	ctx context.Context
	err error
}

func (b *fakeBreaker) Allow() bool { b.allows++; return b.allow }
func (b *fakeBreaker) Report(ctx context.Context, err error) {
	b.reports = append(b.reports, report{ctx, err})
}

// sharedAnswer is the answer the shared cache hands out, told apart from
// Local's by its type.
type sharedAnswer struct{ Answer }

// TestFallbackClaim covers each way Fallback.Claim can go: the shared
// cache answers (first or not), fails, hangs, or is skipped by the
// breaker; the caller gave up; and who hears of it (Report, OnFallback).
// It runs in a synctest bubble, so the claim's timeout is fake time: a
// hanging shared cache is cut at exactly Timeout, however busy the
// machine.
func TestFallbackClaim(t *testing.T) {
	errDown := errors.New("redis: connection refused")
	tests := []struct {
		name    string
		shared  fakeShared
		breaker *fakeBreaker // nil: no breaker
		timeout time.Duration
		// cancelled is a caller that gave up before the claim.
		cancelled bool

		wantShared  bool          // the shared cache was asked
		wantTimeout time.Duration // the deadline it was given, from the start
		wantReports []error       // what the breaker heard
		wantFellTo  error         // what OnFallback heard; nil when not called
		wantLocal   bool          // the answer is Local's
		wantFirst   bool
		wantTook    time.Duration // fake time the claim took
	}{
		{
			name:       "no breaker: the shared cache answers first",
			shared:     fakeShared{first: true},
			wantShared: true, wantTimeout: 300 * time.Millisecond, wantFirst: true,
		},
		{
			name:       "no breaker: another replica claimed it first",
			shared:     fakeShared{first: false},
			wantShared: true, wantTimeout: 300 * time.Millisecond, wantFirst: false,
		},
		{
			name:       "no breaker: the shared cache fails, Local claims",
			shared:     fakeShared{err: errDown},
			wantShared: true, wantTimeout: 300 * time.Millisecond,
			wantFellTo: errDown, wantLocal: true, wantFirst: true,
		},
		{
			name:       "breaker allows: the shared cache answers, the breaker hears nil",
			shared:     fakeShared{first: true},
			breaker:    &fakeBreaker{allow: true},
			wantShared: true, wantTimeout: 300 * time.Millisecond,
			wantReports: []error{nil}, wantFirst: true,
		},
		{
			name:       "breaker allows: the failure is reported, then Local",
			shared:     fakeShared{err: errDown},
			breaker:    &fakeBreaker{allow: true},
			wantShared: true, wantTimeout: 300 * time.Millisecond,
			wantReports: []error{errDown}, wantFellTo: errDown, wantLocal: true, wantFirst: true,
		},
		{
			name:       "breaker open: Local, the shared cache untouched",
			shared:     fakeShared{first: true},
			breaker:    &fakeBreaker{allow: false},
			wantFellTo: errSkipped, wantLocal: true, wantFirst: true,
		},
		{
			name:       "a hanging shared cache is cut at the default 300 ms",
			shared:     fakeShared{hang: true},
			breaker:    &fakeBreaker{allow: true},
			wantShared: true, wantTimeout: 300 * time.Millisecond,
			wantReports: []error{context.DeadlineExceeded}, wantFellTo: context.DeadlineExceeded,
			wantLocal: true, wantFirst: true, wantTook: 300 * time.Millisecond,
		},
		{
			name:       "a hanging shared cache is cut at Timeout",
			shared:     fakeShared{hang: true},
			timeout:    2 * time.Second,
			wantShared: true, wantTimeout: 2 * time.Second, wantFellTo: context.DeadlineExceeded,
			wantLocal: true, wantFirst: true, wantTook: 2 * time.Second,
		},
		{
			// The breaker gets the caller's context, done, so that it can
			// tell the caller's giving up from the store's failing (see
			// Breaker); the push is still answered, from Local.
			name:       "the caller gave up",
			shared:     fakeShared{hang: true},
			breaker:    &fakeBreaker{allow: true},
			cancelled:  true,
			wantShared: true, wantTimeout: 300 * time.Millisecond,
			wantReports: []error{context.Canceled}, wantFellTo: context.Canceled, wantLocal: true, wantFirst: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				shared := tt.shared
				shared.ans = sharedAnswer{}
				var fellTo []error
				f := &Fallback{Shared: &shared, Local: NewLocal(DefaultTTL, nil), Timeout: tt.timeout,
					OnFallback: func(err error) { fellTo = append(fellTo, err) }}
				if tt.breaker != nil {
					b := *tt.breaker
					f.Breaker = &b
				}
				ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "caller"))
				defer cancel()
				if tt.cancelled {
					cancel()
				}
				start := time.Now()
				a, first, err := f.Claim(ctx, "gh/msg/1")
				took := time.Since(start)
				if err != nil {
					t.Fatalf("Claim: %v; want an answer slot whatever the shared cache did", err)
				}

				if asked := len(shared.keys) > 0; asked != tt.wantShared {
					t.Fatalf("shared cache asked: %v, want %v", asked, tt.wantShared)
				}
				if tt.wantShared {
					sctx := shared.ctxs[0]
					dl, ok := sctx.Deadline()
					if shared.keys[0] != "gh/msg/1" || !ok || dl.Sub(start) != tt.wantTimeout {
						t.Errorf("shared claim of %q with deadline %v (set %v), want the key and %v", shared.keys[0], dl.Sub(start), ok, tt.wantTimeout)
					}
					if sctx.Value(ctxKey{}) != "caller" {
						t.Error("the shared claim's context is not derived from the caller's")
					}
					if sctx.Err() == nil {
						t.Error("the shared claim's context is still live after Claim returned (its timer leaks)")
					}
				}
				if b, ok := f.Breaker.(*fakeBreaker); ok {
					if b.allows != 1 {
						t.Errorf("Allow called %d times, want once", b.allows)
					}
					if len(b.reports) != len(tt.wantReports) {
						t.Fatalf("breaker heard %v, want %v", b.reports, tt.wantReports)
					}
					for i, r := range b.reports {
						if !errors.Is(r.err, tt.wantReports[i]) || (r.err == nil) != (tt.wantReports[i] == nil) {
							t.Errorf("report %d: %v, want %v", i, r.err, tt.wantReports[i])
						}
						if r.ctx != ctx {
							t.Errorf("report %d got a context other than the caller's: a timeout of the claim itself would read as the caller giving up", i)
						}
					}
				}
				switch {
				case tt.wantFellTo == nil && len(fellTo) != 0:
					t.Errorf("OnFallback heard %v, want nothing", fellTo)
				case tt.wantFellTo != nil && (len(fellTo) != 1 || !errors.Is(fellTo[0], tt.wantFellTo)):
					t.Errorf("OnFallback heard %v, want %v once", fellTo, tt.wantFellTo)
				}

				_, isShared := a.(sharedAnswer)
				if isShared == tt.wantLocal || first != tt.wantFirst {
					t.Errorf("answer from the shared cache %v, first %v; want from Local %v, first %v", isShared, first, tt.wantLocal, tt.wantFirst)
				}
				// Local holds the push only when the claim landed on it: a
				// retry there waits for its answer rather than running it.
				if _, again, _ := f.Local.Claim(ctx, "gh/msg/1"); again == tt.wantLocal {
					t.Errorf("Local claimed the push: %v, want %v", !again, tt.wantLocal)
				}
				if took != tt.wantTook {
					t.Errorf("the claim took %v of fake time, want %v", took, tt.wantTook)
				}
			})
		})
	}
}

type ctxKey struct{}

// TestFallbackWithoutOnFallback: OnFallback is optional.
func TestFallbackWithoutOnFallback(t *testing.T) {
	f := &Fallback{Shared: &fakeShared{err: errors.New("down")}, Local: NewLocal(DefaultTTL, nil)}
	if _, first, err := f.Claim(context.Background(), "k"); err != nil || !first {
		t.Errorf("Claim: first %v, err %v; want Local's first claim", first, err)
	}
}

// TestFallbackRetriesDuringAnOutage: while the shared cache is down, the
// copies of a push that reach this replica are deduplicated by Local (the
// first runs the rules, its retry gets the same bytes); once the shared
// cache is back, claims go to it again, whatever Local holds. A copy that
// reached another replica during the outage is not seen here: that
// replica's Local runs it too, the price of answering within WeChat's
// 5 seconds while Redis is away.
func TestFallbackRetriesDuringAnOutage(t *testing.T) {
	shared := &fakeShared{err: errors.New("down")}
	breaker := &fakeBreaker{allow: true}
	var fallbacks int
	f := &Fallback{Shared: shared, Local: NewLocal(DefaultTTL, nil), Breaker: breaker,
		OnFallback: func(error) { fallbacks++ }}
	ctx := context.Background()

	first, isFirst, _ := f.Claim(ctx, "push")
	retry, retryFirst, _ := f.Claim(ctx, "push")
	if !isFirst || retryFirst {
		t.Fatalf("during the outage: first copy first=%v, retry first=%v; want only the first", isFirst, retryFirst)
	}
	first.Finish("text/plain; charset=utf-8", []byte("answer"))
	if _, body, err := retry.Wait(ctx); err != nil || string(body) != "answer" {
		t.Errorf("the retry got %q, %v; want the first copy's bytes", body, err)
	}

	breaker.allow = false // the breaker opens: same outcome, no shared claim
	if _, again, _ := f.Claim(ctx, "push"); again {
		t.Error("with the breaker open, a retry was claimed again")
	}

	shared.err, shared.first, shared.ans = nil, true, sharedAnswer{}
	breaker.allow = true
	a, isFirst, _ := f.Claim(ctx, "push")
	if _, ok := a.(sharedAnswer); !ok || !isFirst {
		t.Errorf("the shared cache is back: answer %T first %v, want the shared cache's", a, isFirst)
	}
	if len(shared.keys) != 3 || fallbacks != 3 {
		t.Errorf("%d shared claims, %d fallbacks; want 3 and 3 (the breaker's skip is one)", len(shared.keys), fallbacks)
	}
}

// windowShared is a shared cache that records the kefu window with the
// claim, as Redis does.
type windowShared struct {
	fakeShared
	windows []Window
}

func (s *windowShared) ClaimWindow(ctx context.Context, key string, w Window) (Answer, WindowClaim, error) {
	a, first, err := s.Claim(ctx, key)
	if err == nil && first {
		s.windows = append(s.windows, w)
	}
	return a, WindowClaim{First: first, Opened: err == nil && first}, err
}

// TestFallbackClaimWindow: the window goes with the claim when the shared
// cache can take it and answers; otherwise the caller is told to record it.
func TestFallbackClaimWindow(t *testing.T) {
	w := Window{OpenID: "oU", Until: time.Unix(1_800_000_000, 0)}
	tests := []struct {
		name       string
		shared     Cache
		wantOpened bool
		wantFirst  bool
	}{
		{"records it", &windowShared{fakeShared: fakeShared{ans: sharedAnswer{}, first: true}}, true, true},
		{"a retry records nothing", &windowShared{fakeShared: fakeShared{ans: sharedAnswer{}, first: false}}, false, false},
		{"a shared cache that fails", &windowShared{fakeShared: fakeShared{err: errors.New("down")}}, false, true},
		{"a shared cache without windows", &fakeShared{ans: sharedAnswer{}, first: true}, false, true},
	}
	for _, tt := range tests {
		f := &Fallback{Shared: tt.shared, Local: NewLocal(time.Minute, time.Now)}
		_, c, err := f.ClaimWindow(context.Background(), "k", w)
		first, opened := c.First, c.Opened
		if err != nil || first != tt.wantFirst || opened != tt.wantOpened {
			t.Errorf("%s: first %v opened %v err %v, want first %v opened %v", tt.name, first, opened, err, tt.wantFirst, tt.wantOpened)
		}
		if ws, ok := tt.shared.(*windowShared); ok && tt.wantOpened && (len(ws.windows) != 1 || ws.windows[0] != w) {
			t.Errorf("%s: shared cache got windows %v", tt.name, ws.windows)
		}
	}
}
