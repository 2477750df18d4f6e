package actions

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wxbot/wxbot/actions/llm"
	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/rules"
)

// downProvider is the transport of a model's client whose provider is
// down: each attempt fails at once, refused (status 0) or with status,
// unless block is set: then it waits for block to close and fails with
// status. It runs in the test's process, so that the tests run in a
// synctest bubble, where the backoff and the deadlines are on the fake
// clock and an attempt is late or in time by its schedule alone.
type downProvider struct {
	status int
	block  chan struct{}
	calls  atomic.Int32
}

func (d *downProvider) RoundTrip(r *http.Request) (*http.Response, error) {
	d.calls.Add(1)
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	if d.block != nil {
		select {
		case <-d.block:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	if d.status == 0 {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return &http.Response{StatusCode: d.status, Header: http.Header{}, Request: r,
		Body: io.NopCloser(strings.NewReader(`{"error":{"message":"down"}}`))}, nil
}

// downBot is an engine whose ai rule has the README's settings (a minute
// for the answer) and asks the model through provider; the push's reply
// is due after deadline (0: the engine knows none).
func downBot(t *testing.T, provider *downProvider, deadline time.Duration, holdLate bool) (*engine.Engine, *memory.Memory) {
	t.Helper()
	loaded, err := rules.Parse("rules.yaml", []byte(`
version: 1
rules:
  - name: ask
    on: text
    actions:
      - ai: {timeout: 60s}
`))
	if err != nil {
		t.Fatal(err)
	}
	client, err := llm.New(llm.Config{BaseURL: "http://llm.test/v1", HTTP: &http.Client{Transport: provider}})
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New(nil)
	ob := outbox.New(st, outbox.Options{Poll: 5 * time.Millisecond})
	ob.Register(outbox.KindKefu, outbox.DelivererFunc(func(context.Context, *outbox.Send) error { return nil }))
	return runEngine(t, ob, engine.Options{State: st, HoldLate: holdLate, ReplyDeadline: deadline,
		Services: map[string]any{AIService: NewAI(client, "test-model", 8)}}, loaded.Set), st
}

// TestAIProviderDownApologisesInTime: a provider that fails fast is
// retried only while the push can still be answered, then the apology is
// the passive reply: the user hears within the reply deadline, not after
// the rule's minute of retries.
func TestAIProviderDownApologisesInTime(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		holdLate bool
		retried  bool // a retry fits before the deadline
	}{
		{"refused", 0, false, true},
		{"503", 503, false, true},
		{"500, no kefu API", 500, true, true},
		{"400", 400, false, false},
	}
	const deadline = 4 * time.Second
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				provider := &downProvider{status: tt.status}
				e, _ := downBot(t, provider, deadline, tt.holdLate)
				p := e.Dispatch(textEvent("周末营业吗?"))
				r, outcome := p.Wait(time.After(deadline))
				if outcome != engine.Replied || text(r) != DefaultApology {
					t.Errorf("%v %q by the deadline, want the apology", outcome, text(r))
				}
				if n := provider.calls.Load(); (n > 1) != tt.retried {
					t.Errorf("%d attempts; want retries: %v", n, tt.retried)
				}
			})
		})
	}
}

// TestAIProviderDownWithoutDeadline: an engine that knows no reply
// deadline (none given) keeps the rule's timeout for retries: the bound
// above is the push's deadline, not a new limit on every answer.
func TestAIProviderDownWithoutDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		provider := &downProvider{status: 503}
		e, _ := downBot(t, provider, 0, false)
		p := e.Dispatch(textEvent("周末营业吗?"))
		if r, outcome := p.Wait(time.After(4 * time.Second)); outcome != engine.DeadlinePassed {
			t.Errorf("%v %q at 4 s, want the action still retrying", outcome, text(r))
		}
		<-p.Done()
		if n := provider.calls.Load(); n < 6 {
			t.Errorf("%d attempts in the rule's minute, want retries throughout", n)
		}
	})
}

// TestAIProviderFailingLateHoldsApology: without the kefu API, a provider
// that fails after the push was answered gives the apology as a late
// answer, held for the user's next push, at once: no retry past the
// deadline, never dropped.
func TestAIProviderFailingLateHoldsApology(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		provider := &downProvider{status: 502, block: make(chan struct{})}
		e, st := downBot(t, provider, 4*time.Second, true)
		p := e.Dispatch(textEvent("周末营业吗?"))
		if r, outcome := p.Wait(time.After(4 * time.Second)); outcome != engine.DeadlinePassed {
			t.Fatalf("%v %q, want the deadline passed", outcome, text(r))
		}
		time.Sleep(10 * time.Second) // WeChat's retries are over; the provider answers
		close(provider.block)
		start := time.Now()
		<-p.Done()
		if took := time.Since(start); took != 0 {
			t.Errorf("the apology came %v after the provider failed, want at once", took)
		}
		raw, err := st.TakeHeldReply(context.Background(), "oUser")
		if err != nil || raw == nil {
			t.Fatalf("nothing held for the next push (%v)", err)
		}
		if held, err := engine.UnmarshalReply(raw); err != nil || held.Content != DefaultApology {
			t.Errorf("held %+v (%v), want the apology", held, err)
		}
		if n := provider.calls.Load(); n != 1 {
			t.Errorf("%d attempts, want 1: a failure past the deadline is final", n)
		}
	})
}
