package callback

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/dedup"
	"github.com/wxbot/wxbot/engine/wechat"
)

// Accounts without the kefu API (Config.HoldLate, --kefu=false) have one
// way past WeChat's 5 seconds: WeChat's own retries. A push whose reply
// is not ready by the reply deadline is not answered (an answer, even
// "success", ends the retries); each attempt that arrives waits for the
// reply, and whichever attempt is connected when it is ready gets it.
// The third attempt is the last: if the reply is still not ready a reply
// deadline after it arrived, it is answered with Config.PendingText, and
// the reply, when it comes, is held in the store and answers the user's
// next push. That push runs its rules as usual, but its own reply, if it
// makes one, is held in turn (only one passive reply per push).

// DefaultPendingText answers the last attempt of a held push whose reply
// is not ready.
const DefaultPendingText = "答案还在生成, 回复任意文字获取"

// WeChat's retry schedule: an attempt is given up after 5 s
// (DefaultRetryWait, Config.RetryWait) and retried at once, three attempts
// in all.
const (
	DefaultRetryWait = 5 * time.Second
	wechatAttempt    = 3
)

// HeldReplies are the replies held for users (the taking half of
// store.HeldReplies).
type HeldReplies interface {
	TakeHeldReply(ctx context.Context, openID string) ([]byte, error)
}

// holds are the pushes held for WeChat's retries, by event ID, so that a
// retry reaching this process tells its hold which attempt it is.
type holds struct {
	mu sync.Mutex
	m  map[string]*hold
}

// hold is one held push: fire is closed when the last attempt must be
// answered.
type hold struct {
	fire     chan time.Time
	once     sync.Once
	timer    *time.Timer
	attempts int
}

func (hs *holds) start(id string, at time.Duration) *hold {
	hd := &hold{fire: make(chan time.Time), attempts: 1}
	hd.timer = time.AfterFunc(at, hd.close)
	hs.mu.Lock()
	if hs.m == nil {
		hs.m = map[string]*hold{}
	}
	hs.m[id] = hd
	hs.mu.Unlock()
	return hd
}

func (hd *hold) close() { hd.once.Do(func() { close(hd.fire) }) }

func (hs *holds) end(id string) {
	hs.mu.Lock()
	if hd := hs.m[id]; hd != nil {
		hd.timer.Stop()
		delete(hs.m, id)
	}
	hs.mu.Unlock()
}

// retried counts an attempt of a held push; the last one moves the
// pending answer to a reply deadline after its arrival, if that is
// sooner. A retry that reaches another replica is not seen here: the
// hold's own schedule (WeChat's) covers it.
func (hs *holds) retried(id string, deadline time.Duration) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hd := hs.m[id]
	if hd == nil {
		return
	}
	if hd.attempts++; hd.attempts == wechatAttempt {
		hd.timer.Stop()
		hd.timer = time.AfterFunc(deadline, hd.close)
	}
}

// pushHolding handles a push on an account without the kefu API.
func (h *Handler) pushHolding(w http.ResponseWriter, r *http.Request, ps *pushState, q *query, token string, answer dedup.Answer, start time.Time) {
	ev := &ps.ev
	held := h.takeHeld(r.Context(), ev)
	ev.Collects = held != nil
	p := h.e.Dispatch(ev)
	if held != nil {
		h.collect(w, ps, q, token, answer, p, held, start)
		return
	}
	timer := time.NewTimer(h.cfg.ReplyDeadline)
	ready := p.WaitReady(timer.C)
	timer.Stop()
	if ready {
		reply, outcome := p.Wait(nil)
		h.respond(w, r, ps, q, token, answer, p, reply, outcome, start)
		return
	}
	// The last attempt arrives two waits after this one; it is answered a
	// reply deadline after it arrives.
	hd := h.holds.start(ev.ID, time.Until(start.Add((wechatAttempt-1)*h.cfg.RetryWait+h.cfg.ReplyDeadline)))
	h.log.Info("reply not ready; the push is held for WeChat's retries", "type", ev.Type, "from", ev.From, "rules", p.RuleNames())
	go h.settleHeld(ps, q, token, answer, p, hd, start)
	ct, out, err := answer.Wait(r.Context())
	if err != nil {
		return // WeChat gave up on this attempt and retries
	}
	writeAnswer(w, ct, out)
}

// settleHeld answers a held push: with its reply when it is ready, else,
// when the last attempt must be answered, with the pending text (the
// reply is then held for the user's next push).
func (h *Handler) settleHeld(ps *pushState, q *query, token string, answer dedup.Answer, p *engine.Push, hd *hold, start time.Time) {
	ev := &ps.ev
	defer h.holds.end(ev.ID)
	reply, outcome := p.Wait(hd.fire)
	label := outcome.String()
	if outcome == engine.DeadlinePassed {
		reply, label = &wechat.Reply{Type: wechat.ReplyText, Content: h.cfg.PendingText}, "pending"
		h.obs.DeadlinePassed()
	}
	ct, out := h.encode(ps, q, token, reply)
	answer.Finish(ct, out)
	h.obs.Push(engine.MetricLabel(ev.Type), label, time.Since(start))
	h.log.Info("held push answered", "type", ev.Type, "from", ev.From, "rules", p.RuleNames(),
		"outcome", label, "latency", time.Since(start))
}

// takeHeld returns the reply held for the pushing user, if the push can
// carry one (a push the user sees the answer to).
func (h *Handler) takeHeld(ctx context.Context, ev *engine.Event) *wechat.Reply {
	if h.cfg.Held == nil || ev.From == "" || !ev.TakesReply() || !ev.ReplySeen() {
		return nil
	}
	raw, err := h.cfg.Held.TakeHeldReply(ctx, ev.From)
	if err != nil {
		h.log.Warn("reading the user's held replies failed; the push is handled as usual", "err", err)
		return nil
	}
	if raw == nil {
		return nil
	}
	reply, err := engine.UnmarshalReply(raw)
	if err != nil {
		h.log.Error("a held reply is damaged; dropped", "err", err, "from", ev.From)
		return nil
	}
	return reply
}

// collect answers a push with the reply held for its user. The push's
// rules run as usual; a reply of their own is held in turn.
func (h *Handler) collect(w http.ResponseWriter, ps *pushState, q *query, token string, answer dedup.Answer, p *engine.Push, held *wechat.Reply, start time.Time) {
	ev := &ps.ev
	if own, _ := p.Wait(closedDeadline); own != nil { // ready already: inline actions
		if err := h.e.Hold(context.Background(), ev.From, own); err != nil {
			h.log.Error("the push's own reply could not be held for the next push; it is lost", "err", err)
		}
	}
	ct, out := h.encode(ps, q, token, held)
	answer.Finish(ct, out)
	writeAnswer(w, ct, out)
	h.obs.Push(engine.MetricLabel(ev.Type), "held", time.Since(start))
	h.log.Info("push answered with a reply held for the user", "type", ev.Type, "from", ev.From, "rules", p.RuleNames(), "reply", held.Type)
}

// closedDeadline settles a push at once.
var closedDeadline = func() chan time.Time { c := make(chan time.Time); close(c); return c }()
