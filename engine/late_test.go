package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/wechat"
)

// TestHeldReplyRoundTrip: a reply held in the store comes back whole,
// whatever its kind.
func TestHeldReplyRoundTrip(t *testing.T) {
	tests := []*wechat.Reply{
		textReply("营业时间 9:00-18:00 <b>&</b>"),
		{Type: wechat.ReplyImage, MediaID: "MEDIA"},
		{Type: wechat.ReplyVideo, MediaID: "V", Title: "t", Description: "d"},
		{Type: wechat.ReplyMusic, Title: "t", MusicURL: "u", HQMusicURL: "hq", ThumbMediaID: "T"},
		{Type: wechat.ReplyNews, Articles: []wechat.Article{{Title: "a", URL: "https://x/a"}, {Title: "b", PicURL: "https://x/b.png"}}},
		{Type: wechat.ReplyTransfer, KfAccount: "kf@shop"},
	}
	for _, want := range tests {
		t.Run(want.Type, func(t *testing.T) {
			raw, err := MarshalReply(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := UnmarshalReply(raw)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

// TestUnmarshalReplyRefusesDamagedInput: what the store gives back may be
// cut short or not a reply at all (a key written by something else); the
// callback drops it with a log line rather than answering with nothing.
func TestUnmarshalReplyRefusesDamagedInput(t *testing.T) {
	valid, err := MarshalReply(textReply("hi"))
	if err != nil {
		t.Fatal(err)
	}
	const damaged, untyped = "a held reply is damaged: ", "a held reply has no type"
	tests := []struct {
		name string
		raw  []byte
		want string // the error's start
	}{
		{"empty", nil, damaged},
		{"cut short", valid[:len(valid)/2], damaged},
		{"not JSON", []byte("<xml><Content>hi</Content></xml>"), damaged},
		{"an array", []byte(`["text", "hi"]`), damaged},
		{"a type of the wrong kind", []byte(`{"Type": 1, "Content": "hi"}`), damaged},
		{"trailing garbage", append(bytes.Clone(valid), '}'), damaged},
		{"null", []byte("null"), untyped},
		{"an empty object", []byte("{}"), untyped},
		{"no type", []byte(`{"Content": "hi"}`), untyped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := UnmarshalReply(tt.raw)
			if r != nil || err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %+v, %v; want no reply and an error starting %q", r, err, tt.want)
			}
			if tt.want == damaged && errors.Unwrap(err) == nil {
				t.Errorf("%v does not wrap the decoder's error", err)
			}
		})
	}
}

// aiRecorder is an AI memory that records what the engine asks of it, and
// whose ForgetAI fails with forgetErr when set.
type aiRecorder struct {
	*memory.Memory
	mu        sync.Mutex
	holds     []holdCall
	forgets   []string
	forgetErr error
}

type holdCall struct {
	openID string
	ttl    time.Duration
	ctxErr error // the context's error when the engine held the reply
}

func (h holdCall) String() string {
	return fmt.Sprintf("{%s for %v, context error %v}", h.openID, h.ttl, h.ctxErr)
}

func (r *aiRecorder) HoldReply(ctx context.Context, openID string, reply []byte, ttl time.Duration) error {
	r.mu.Lock()
	r.holds = append(r.holds, holdCall{openID, ttl, ctx.Err()})
	r.mu.Unlock()
	return r.Memory.HoldReply(ctx, openID, reply, ttl)
}

func (r *aiRecorder) ForgetAI(ctx context.Context, openID string) error {
	r.mu.Lock()
	r.forgets = append(r.forgets, openID)
	r.mu.Unlock()
	if r.forgetErr != nil {
		return r.forgetErr
	}
	return r.Memory.ForgetAI(ctx, openID)
}

// stateOnly is a State that keeps no AI memory (a custom store): the
// embedded interface hides the memory store's other methods.
type stateOnly struct{ State }

// held takes the user's oldest held reply from m, nil when none.
func held(t *testing.T, m store.HeldReplies, openID string) *wechat.Reply {
	t.Helper()
	raw, err := m.TakeHeldReply(context.Background(), openID)
	if err != nil {
		t.Fatal(err)
	}
	if raw == nil {
		return nil
	}
	r, err := UnmarshalReply(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// syncBuffer is a log destination safe for the engine's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEngineHold: Engine.Hold keeps a reply in the engine's AI memory
// (Options.AIMemory, else State's) for the user's next push, for the
// state's lifetime, even when the caller's context is done (the user was
// promised the answer); an engine without one says so.
func TestEngineHold(t *testing.T) {
	tests := []struct {
		name string
		// opts builds the engine's options around rec, the AI memory
		// expected to get the reply, and other, a store that must not.
		opts      func(rec *aiRecorder, other *memory.Memory) Options
		cancelled bool
		wantErr   string
	}{
		{name: "the state's", opts: func(rec *aiRecorder, _ *memory.Memory) Options { return Options{State: rec} }},
		{name: "Options.AIMemory before the state's", opts: func(rec *aiRecorder, other *memory.Memory) Options {
			return Options{State: other, AIMemory: rec}
		}},
		{name: "a cancelled caller", cancelled: true,
			opts: func(rec *aiRecorder, _ *memory.Memory) Options { return Options{State: rec} }},
		{name: "no AI memory", wantErr: "the store keeps no held replies",
			opts: func(_ *aiRecorder, other *memory.Memory) Options { return Options{State: stateOnly{other}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, other := &aiRecorder{Memory: memory.New(nil)}, memory.New(nil)
			e := New(tt.opts(rec, other))
			defer e.Close(context.Background())
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancelled {
				cancel()
			}
			defer cancel()
			want := textReply("the answer")
			err := e.Hold(ctx, "oU", want)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Hold: %v, want %q", err, tt.wantErr)
				}
				if len(rec.holds) != 0 || held(t, other, "oU") != nil {
					t.Error("a reply was held somewhere all the same")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.holds) != 1 || rec.holds[0] != (holdCall{"oU", HeldReplyTTL, nil}) {
				t.Errorf("holds %v, want one for oU for HeldReplyTTL with a live context", rec.holds)
			}
			if got := held(t, rec, "oU"); !reflect.DeepEqual(got, want) {
				t.Errorf("held %+v, want %+v", got, want)
			}
			if got := held(t, other, "oU"); got != nil {
				t.Errorf("the state holds %+v too; Options.AIMemory should have it alone", got)
			}
		})
	}
}

// TestLateReplyIsHeld: with HoldLate, a passive reply that comes after the
// push was answered is held for the user's next push (and LateReply is not
// called); without an AI memory it is lost, with an error in the log.
func TestLateReplyIsHeld(t *testing.T) {
	tests := []struct {
		name     string
		state    func(*aiRecorder) State
		wantHeld bool
		wantLog  string
	}{
		{"held", func(rec *aiRecorder) State { return rec }, true, "passive reply was late; held for the user's next push"},
		{"no AI memory", func(rec *aiRecorder) State { return stateOnly{rec} }, false,
			"a late reply could not be held for the user's next push; it is lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			rec := &aiRecorder{Memory: memory.New(nil)}
			var lateReplies int
			e := New(Options{State: tt.state(rec), HoldLate: true, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				LateReply: func(*Event, *wechat.Reply) { lateReplies++ }})
			defer e.Close(context.Background())
			release := make(chan struct{})
			r := rule("slow", []string{"text"})
			r.Steps = []Step{{Name: "slow", Passive: true, Action: ActionFunc(func(_ context.Context, c *Call) error {
				<-release
				c.Reply(textReply("finally"))
				return nil
			})}}
			e.SetRules(NewRuleSet([]*Rule{r}, nil))
			p := e.Dispatch(&Event{ID: "push-1", Type: "text", From: "oLate"})
			if _, outcome := p.Wait(closedDeadline()); outcome != DeadlinePassed {
				t.Fatalf("outcome %v, want the deadline passed", outcome)
			}
			close(release)
			<-p.Done() // the late reply is held inside the action's Reply
			got := held(t, rec, "oLate")
			if (got != nil) != tt.wantHeld || (got != nil && got.Content != "finally") {
				t.Errorf("held %+v, want held: %v", got, tt.wantHeld)
			}
			if lateReplies != 0 {
				t.Errorf("LateReply called %d times; HoldLate replaces it", lateReplies)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("the log lacks %q:\n%s", tt.wantLog, logs.String())
			}
		})
	}
}

// closedDeadline is a reply deadline that has passed.
func closedDeadline() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}

// TestCallAIMemory: an action sees the engine's AI memory (Options.AIMemory,
// else the state's, else none) and whether late replies are held.
func TestCallAIMemory(t *testing.T) {
	st, given := memory.New(nil), &aiRecorder{Memory: memory.New(nil)}
	tests := []struct {
		name      string
		opts      Options
		want      AIMemory
		wantHolds bool
	}{
		{"the state's", Options{State: st}, st, false},
		{"Options.AIMemory", Options{State: st, AIMemory: given}, given, false},
		{"none", Options{State: stateOnly{st}}, nil, false},
		{"held late", Options{State: st, HoldLate: true}, st, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(tt.opts)
			defer e.Close(context.Background())
			var got AIMemory
			var holds bool
			r := rule("r", []string{"text"})
			r.Steps = []Step{{Name: "look", Inline: true, Action: ActionFunc(func(_ context.Context, c *Call) error {
				got, holds = c.AIMemory(), c.HoldsLate()
				return nil
			})}}
			e.SetRules(NewRuleSet([]*Rule{r}, nil))
			if _, err := e.Dispatch(&Event{Type: "text", From: "oU"}).Finish(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got != tt.want || holds != tt.wantHolds {
				t.Errorf("AIMemory %v, HoldsLate %v; want %v, %v", got, holds, tt.want, tt.wantHolds)
			}
		})
	}
	// A call built outside a dispatch (an action's unit test) has none.
	c, _ := NewTestCall(&Event{Type: "text"}, &Env{}, nil)
	if c.AIMemory() != nil || c.HoldsLate() {
		t.Errorf("NewTestCall: AIMemory %v, HoldsLate %v; want none", c.AIMemory(), c.HoldsLate())
	}
}

// TestUnsubscribeForgetsAI: a user who unsubscribes loses their AI turns
// and held replies with their state; other users and other events keep
// theirs, a dry run forgets nothing, and a forget that fails is logged
// without keeping the state from being deleted.
func TestUnsubscribeForgetsAI(t *testing.T) {
	tests := []struct {
		name      string
		event     string
		dryRun    bool
		noAI      bool
		forgetErr error
		// want: the gone user's AI memory and state are gone.
		wantForgotten, wantStateDeleted bool
		wantLog                         string
	}{
		{name: "unsubscribe", event: "unsubscribe", wantForgotten: true, wantStateDeleted: true},
		{name: "another event", event: "text"},
		{name: "a dry run", event: "unsubscribe", dryRun: true, wantStateDeleted: true},
		{name: "the forget fails", event: "unsubscribe", forgetErr: errors.New("redis: timeout"), wantStateDeleted: true,
			wantLog: "forgetting the AI history of a user who unsubscribed failed"},
		{name: "no AI memory", event: "unsubscribe", noAI: true, wantStateDeleted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			rec := &aiRecorder{Memory: memory.New(nil), forgetErr: tt.forgetErr}
			for _, u := range []string{"oGone", "oStays"} {
				rec.AddAITurn(ctx, u, store.Turn{Q: "q", A: "a"}, 5, time.Hour)
				rec.Memory.HoldReply(ctx, u, []byte(`{"Type":"text","Content":"held"}`), time.Hour)
				rec.PatchUser(ctx, u, &store.UserPatch{Set: map[string]any{"step": "x"}})
			}
			var state State = rec
			if tt.noAI {
				state = stateOnly{rec}
			}
			var logs syncBuffer
			e := New(Options{State: state, DryRun: tt.dryRun, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			defer e.Close(context.Background())
			if _, err := e.Dispatch(&Event{Type: tt.event, From: "oGone"}).Finish(ctx); err != nil {
				t.Fatal(err)
			}

			turns, _ := rec.AITurns(ctx, "oGone")
			reply := held(t, rec.Memory, "oGone")
			forgotten, kept := len(turns) == 0 && reply == nil, len(turns) == 1 && reply != nil
			if tt.wantForgotten && !forgotten || !tt.wantForgotten && !kept {
				t.Errorf("turns %v, held reply %+v; want forgotten %v (turns and held replies alike)", turns, reply, tt.wantForgotten)
			}
			if st, _ := rec.LoadUser(ctx, "oGone"); (st == nil) != tt.wantStateDeleted {
				t.Errorf("state %v, want deleted %v", st, tt.wantStateDeleted)
			}
			if turns, _ := rec.AITurns(ctx, "oStays"); len(turns) != 1 || held(t, rec.Memory, "oStays") == nil {
				t.Error("another user's AI memory was forgotten")
			}
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("the log lacks %q:\n%s", tt.wantLog, logs.String())
			}
			if asked := len(rec.forgets) > 0; asked != (tt.event == "unsubscribe" && !tt.dryRun && !tt.noAI) {
				t.Errorf("ForgetAI called for %v", rec.forgets)
			}
		})
	}
}

// TestFollowUp: what follows a passive reply goes by kefu a second behind
// it, or is held when late replies are held; a reply kefu cannot carry is
// an error, and a dry run sends nothing.
func TestFollowUp(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name     string
		holdLate bool
		dryRun   bool
		reply    *wechat.Reply
		wantErr  string
		wantKefu bool // queued for kefu, due a second from now
		wantHeld bool
	}{
		{name: "by kefu", reply: textReply("part 2"), wantKefu: true},
		{name: "held", holdLate: true, reply: textReply("part 2"), wantHeld: true},
		{name: "no kefu equivalent", reply: &wechat.Reply{Type: wechat.ReplyNews}, wantErr: "a news reply has no kefu equivalent"},
		{name: "a dry run", dryRun: true, reply: textReply("part 2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := memory.New(func() time.Time { return now })
			ob := outbox.New(st, outbox.Options{Now: func() time.Time { return now }}) // not run: sends stay queued
			ob.Register(outbox.KindKefu, outbox.DelivererFunc(func(context.Context, *outbox.Send) error { return nil }))
			e := New(Options{State: st, Outbox: ob, HoldLate: tt.holdLate, DryRun: tt.dryRun, Now: func() time.Time { return now }})
			defer e.Close(ctx)
			var err error
			r := rule("r", []string{"text"})
			r.Steps = []Step{{Name: "answer", Inline: true, Action: ActionFunc(func(ctx context.Context, c *Call) error {
				err = c.FollowUp(ctx, tt.reply)
				return nil
			})}}
			e.SetRules(NewRuleSet([]*Rule{r}, nil))
			if _, ferr := e.Dispatch(&Event{ID: "P", Type: "text", From: "oU"}).Finish(ctx); ferr != nil {
				t.Fatal(ferr)
			}
			if (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
				t.Errorf("FollowUp: %v, want %q", err, tt.wantErr)
			}
			due, _ := st.Due(ctx, now.Add(time.Hour), 10, nil)
			if tt.wantKefu {
				if len(due) != 1 || due[0].Kind != outbox.KindKefu || due[0].ID != "P/r/0/1" || !due[0].NotBefore.Equal(now.Add(time.Second)) {
					t.Errorf("queued %+v, want one kefu send due a second from now", due)
				}
			} else if len(due) != 0 {
				t.Errorf("queued %+v, want nothing", due)
			}
			if got := held(t, st, "oU"); (got != nil) != tt.wantHeld || (got != nil && !reflect.DeepEqual(got, tt.reply)) {
				t.Errorf("held %+v, want held: %v", got, tt.wantHeld)
			}
		})
	}
}

// TestWaitReady: WaitReady reports whether the reply is ready or the
// actions are done by the deadline, and settles nothing: a push that was
// not ready is still answered by Wait with the reply that comes after,
// which is not late.
func TestWaitReady(t *testing.T) {
	tests := []struct {
		name string
		// What the action does: reply, then block until released, then
		// reply (the first reply wins).
		inline, replyFirst, block, replyAfter bool
		deadline                              <-chan time.Time // nil: none
		want                                  bool
		wantOutcome                           Outcome
	}{
		{name: "finished inline", inline: true, replyFirst: true, want: true, wantOutcome: Replied},
		// No deadline in these two: the reply, or the end of the actions,
		// alone ends the wait.
		{name: "replied", replyFirst: true, block: true, want: true, wantOutcome: Replied},
		{name: "done without a reply", want: true, wantOutcome: NoReply},
		// The action cannot finish before the deadline: it waits to be released.
		{name: "the deadline first", block: true, replyAfter: true, deadline: closedDeadline(), want: false, wantOutcome: Replied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var late atomic.Int32
			e := New(Options{LateReply: func(*Event, *wechat.Reply) { late.Add(1) }})
			defer e.Close(context.Background())
			release := make(chan struct{})
			r := rule("r", []string{"text"})
			r.Steps = []Step{{Name: "act", Passive: true, Inline: tt.inline, Action: ActionFunc(func(_ context.Context, c *Call) error {
				if tt.replyFirst {
					c.Reply(textReply("first"))
				}
				if tt.block {
					<-release
				}
				if tt.replyAfter {
					c.Reply(textReply("after"))
				}
				return nil
			})}}
			e.SetRules(NewRuleSet([]*Rule{r}, nil))
			p := e.Dispatch(&Event{Type: "text", From: "oU"})
			if got := p.WaitReady(tt.deadline); got != tt.want {
				t.Errorf("WaitReady = %v, want %v", got, tt.want)
			}
			close(release)
			if _, outcome := p.Wait(nil); outcome != tt.wantOutcome {
				t.Errorf("Wait after WaitReady: %v, want %v", outcome, tt.wantOutcome)
			}
			<-p.Done()
			if late.Load() != 0 {
				t.Error("the reply went out late: WaitReady settled the push")
			}
		})
	}
}
