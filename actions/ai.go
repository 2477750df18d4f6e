package actions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wxbot/wxbot/actions/llm"
	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/wechat"
)

func init() {
	engine.Register(engine.Spec{
		Name: "ai",
		Doc: "answer with a large language model (any OpenAI-compatible endpoint, --ai-base-url): " +
			"passive when ready in time, else by kefu (or on the user's next push with --kefu=false); long answers are split",
		Params: func() any {
			return &AIParams{History: 6, MaxTokens: 600, Timeout: DefaultAITimeout,
				OverLimit: *engine.MustTemplate(DefaultOverLimit), Apology: *engine.MustTemplate(DefaultApology)}
		},
		New: func(p any) (engine.Action, error) {
			ap := p.(*AIParams)
			t, err := newHandoff(ap.Handoff)
			return &aiAction{p: ap, transfer: t}, err
		},
	})
}

// The ai action's defaults and bounds.
const (
	DefaultAITimeout = 60 * time.Second
	MaxAITimeout     = 10 * time.Minute
	DefaultOverLimit = "今天的提问次数已用完, 明天再来吧"
	DefaultApology   = "抱歉, 暂时无法回答, 请稍后再试"
	// MoreNote ends every part of a split answer but the last when the
	// rest waits for the user's next pushes (--kefu=false).
	MoreNote = "\n\n(回复任意文字查看下一段)"
	// AIService is the name of the *AI in engine.Options.Services.
	AIService = "ai"
	// CannedAnswer is the name of a rule test's ai_answer in
	// engine.Options.Canned.
	CannedAnswer = "ai_answer"
	// maxTurnBytes bounds each side of a turn kept in the history.
	maxTurnBytes = 4 << 10
)

// AIParams are the params of `ai`.
type AIParams struct {
	System      engine.Template `yaml:"system" doc:"the system prompt: who the assistant is and what it may answer; may hold ${ expr }"`
	History     int             `yaml:"history" doc:"earlier turns (question and answer) of this user sent along, 0 to 50 (default 6); kept in the store 24 h after the last"`
	MaxTokens   int             `yaml:"max_tokens" doc:"the longest answer in tokens (default 600)"`
	Temperature *float64        `yaml:"temperature" doc:"0 to 2; the endpoint's default when unset"`
	Model       string          `yaml:"model" doc:"the model; --ai-model when empty"`
	Timeout     time.Duration   `yaml:"timeout" doc:"the whole answer, waiting for a free slot (--ai-concurrency) and retries included (default 60s, at most 10m)"`
	DailyLimit  int             `yaml:"daily_limit" doc:"answers per user per day (in --timezone) for this rule; 0: no limit"`
	OverLimit   engine.Template `yaml:"over_limit" doc:"replied instead of an answer past daily_limit"`
	Apology     engine.Template `yaml:"apology" doc:"replied when the model fails, times out or refuses (never its error text)"`
	Markdown    AnswerMarkdown  `yaml:"markdown" doc:"plain (default): Markdown in the answer (titles, bold, lists, links, tables, code) becomes plain text, links kept as text and URL, since WeChat shows text as it is; keep: the answer as the model wrote it"`
	Handoff     *AIHandoff      `yaml:"handoff" doc:"hand the user to a person when the question has one of keywords or the model's answer has the marker: the handoff's actions (default: a transfer, after which the bot keeps quiet, see the top-level handoff) run instead of the answer"`
}

// Validate checks the numbers.
func (p *AIParams) Validate() error {
	var errs []error
	if p.History < 0 || p.History > store.MaxAITurns {
		errs = append(errs, fmt.Errorf("history: %d, want 0 to %d", p.History, store.MaxAITurns))
	}
	if p.MaxTokens < 1 || p.MaxTokens > 32768 {
		errs = append(errs, fmt.Errorf("max_tokens: %d, want 1 to 32768", p.MaxTokens))
	}
	if t := p.Temperature; t != nil && (*t < 0 || *t > 2) {
		errs = append(errs, fmt.Errorf("temperature: %v, want 0 to 2", *t))
	}
	if p.Timeout < time.Second || p.Timeout > MaxAITimeout {
		errs = append(errs, fmt.Errorf("timeout: %v, want 1s to %v", p.Timeout, MaxAITimeout))
	}
	if p.DailyLimit < 0 {
		errs = append(errs, fmt.Errorf("daily_limit: %d, want 0 (no limit) or more", p.DailyLimit))
	}
	if p.Apology.IsZero() {
		errs = append(errs, errors.New("apology: must not be empty (a failure answers the user, never silence)"))
	}
	if p.DailyLimit > 0 && p.OverLimit.IsZero() {
		errs = append(errs, errors.New("over_limit: must not be empty with a daily_limit"))
	}
	if p.Handoff != nil {
		errs = append(errs, p.Handoff.Validate())
	}
	return errors.Join(errs...)
}

// Lint warns about an ai rule for events without text.
func (p *AIParams) Lint(li engine.LintInfo) []string {
	for _, on := range li.On {
		if on != "text" && on != "voice" {
			return []string{fmt.Sprintf("ai: answers the text of a message (or a voice's recognition); %q events have none and are not answered", on)}
		}
	}
	return nil
}

// Chatter asks a model (llm.Client; tests fake it).
type Chatter interface {
	Chat(ctx context.Context, req *llm.Request) (*llm.Answer, error)
}

// AIObserver is implemented by an engine Observer that keeps the ai
// action's metrics.
type AIObserver interface {
	// AIAnswer is one question handled: outcome passive, kefu, pending,
	// error, over_limit or handoff (transferred to a person instead), and
	// how long it took.
	AIAnswer(outcome string, took time.Duration)
	// AITokens adds an answer's usage.
	AITokens(in, out int)
}

// AI is what the ai action needs at run time: the model and the bound on
// answers in flight. wxbot serve builds one (see NewAI) and gives it to
// the engine as Options.Services[AIService].
type AI struct {
	Chat  Chatter
	Model string // the default model (--ai-model)
	slots chan struct{}
}

// NewAI returns the service with room for concurrency answers in flight;
// more wait their turn.
func NewAI(chat Chatter, model string, concurrency int) *AI {
	return &AI{Chat: chat, Model: model, slots: make(chan struct{}, max(concurrency, 1))}
}

type aiAction struct {
	p        *AIParams
	transfer engine.Steps // the default handoff; nil without one or with handoff.actions
}

// Run answers the push's text. Every path answers the user: the model's
// answer, the over-limit text or the apology.
func (a *aiAction) Run(ctx context.Context, c *engine.Call) error {
	q := strings.TrimSpace(c.Event.Content)
	if q == "" {
		q = strings.TrimSpace(c.Event.Recognition)
	}
	switch {
	case c.Event.Collects:
		c.Logger.Debug("ai: the push collects a held answer; its text is not a question", "rule", c.Rule.Name)
		return nil
	case c.Env != nil && c.Env.Quiet():
		// a rule with during_handoff: a person holds the conversation, and
		// the bot must not answer over them
		c.Logger.Debug("ai: a person holds the conversation; no answer", "rule", c.Rule.Name)
		return nil
	case q == "":
		c.Logger.Warn("ai: the push has no text to answer", "rule", c.Rule.Name, "event", c.Event.Type)
		return nil
	}
	start := time.Now()
	obs, _ := c.Observer().(AIObserver)
	if a.p.Handoff.asked(q) {
		return a.handOff(ctx, c, "keyword", "", obs, start)
	}
	if !a.takeQuota(ctx, c) {
		a.say(ctx, c, &a.p.OverLimit, obs, "over_limit", start)
		return nil
	}
	text, err := a.answer(ctx, c, q, obs)
	if err != nil {
		a.say(ctx, c, &a.p.Apology, obs, "error", start)
		return fmt.Errorf("ai: %w", err)
	}
	if a.p.Handoff.marked(text) {
		return a.handOff(ctx, c, "marker", text, obs, start)
	}
	outcome := a.deliver(ctx, c, a.p.Markdown.Shape(text))
	if obs != nil {
		obs.AIAnswer(outcome, time.Since(start))
	}
	return nil
}

// takeQuota counts the answer against daily_limit. A store that fails
// lets the answer go ahead: the limit bounds cost, and silence is worse.
func (a *aiAction) takeQuota(ctx context.Context, c *engine.Call) bool {
	mem := c.AIMemory()
	if a.p.DailyLimit == 0 || mem == nil {
		return true
	}
	day := c.Env.Now().Format(time.DateOnly)
	ok, err := mem.TakeAIQuota(ctx, c.Rule.Name+"/"+c.Event.From+"/"+day, a.p.DailyLimit, 48*time.Hour)
	if err != nil {
		c.Logger.Warn("ai: counting the daily answers failed; answering anyway", "rule", c.Rule.Name, "err", err)
		return true
	}
	return ok
}

// say replies a short text of the params (over_limit, apology).
func (a *aiAction) say(ctx context.Context, c *engine.Call, t *engine.Template, obs AIObserver, outcome string, start time.Time) {
	s, err := c.Render(t)
	if err != nil || s == "" {
		s = DefaultApology
	}
	a.deliver(ctx, c, s)
	if obs != nil {
		obs.AIAnswer(outcome, time.Since(start))
	}
}

// answer asks the model (or, offline, takes the canned answer) and keeps
// the turn in the user's history.
func (a *aiAction) answer(ctx context.Context, c *engine.Call, q string, obs AIObserver) (string, error) {
	mem := c.AIMemory()
	var text string
	if c.DryRun() {
		var ok bool
		if text, ok = c.Canned(CannedAnswer); !ok {
			text = "(the model's answer)"
		}
	} else {
		svc, _ := c.Service(AIService).(*AI)
		if svc == nil {
			return "", errors.New("no model configured: set --ai-base-url (and --ai-api-key, --ai-model)")
		}
		req, err := a.request(ctx, c, q, svc, mem)
		if err != nil {
			return "", err
		}
		// A provider that is down is retried only while the apology can
		// still be the passive reply: past that the user would hear
		// nothing until the timeout.
		req.RetryBy, _ = c.ReplyBy()
		ans, err := a.ask(ctx, svc, req)
		if ans != nil && obs != nil {
			obs.AITokens(ans.TokensIn, ans.TokensOut)
		}
		if err != nil {
			return "", err
		}
		text = ans.Text
	}
	// an answer that hands off was never shown: the model need not see it
	if a.p.History > 0 && mem != nil && !a.p.Handoff.marked(text) {
		t := store.Turn{Q: clipUTF8(q, maxTurnBytes), A: clipUTF8(text, maxTurnBytes)}
		if err := mem.AddAITurn(context.WithoutCancel(ctx), c.Event.From, t, a.p.History, store.DefaultStateTTL); err != nil {
			c.Logger.Warn("ai: keeping the turn in the history failed", "rule", c.Rule.Name, "err", err)
		}
	}
	return text, nil
}

// request builds the conversation: the system prompt, the user's earlier
// turns, the question.
func (a *aiAction) request(ctx context.Context, c *engine.Call, q string, svc *AI, mem engine.AIMemory) (*llm.Request, error) {
	req := &llm.Request{Model: a.p.Model, MaxTokens: a.p.MaxTokens, Temperature: a.p.Temperature}
	if req.Model == "" {
		req.Model = svc.Model
	}
	if !a.p.System.IsZero() {
		sys, err := c.Render(&a.p.System)
		if err != nil {
			return nil, err
		}
		req.Messages = append(req.Messages, llm.Message{Role: "system", Content: sys})
	}
	if a.p.History > 0 && mem != nil {
		turns, err := mem.AITurns(ctx, c.Event.From)
		if err != nil {
			c.Logger.Warn("ai: reading the history failed; asking without it", "rule", c.Rule.Name, "err", err)
		}
		turns = turns[max(0, len(turns)-a.p.History):]
		for _, t := range turns {
			req.Messages = append(req.Messages, llm.Message{Role: "user", Content: t.Q}, llm.Message{Role: "assistant", Content: t.A})
		}
	}
	req.Messages = append(req.Messages, llm.Message{Role: "user", Content: q})
	return req, nil
}

// ask waits for a slot among the answers in flight, then asks, all within
// timeout.
func (a *aiAction) ask(ctx context.Context, svc *AI, req *llm.Request) (*llm.Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, a.p.Timeout)
	defer cancel()
	select {
	case svc.slots <- struct{}{}:
		defer func() { <-svc.slots }()
	case <-ctx.Done():
		return nil, fmt.Errorf("no free slot among --ai-concurrency answers in flight within %v", a.p.Timeout)
	}
	return svc.Chat.Chat(ctx, req)
}

// deliver sends text, split to WeChat's size: the first part answers the
// push (or goes late), the rest follow in order. It returns the outcome:
// passive, kefu or pending.
func (a *aiAction) deliver(ctx context.Context, c *engine.Call, text string) string {
	more := ""
	if c.HoldsLate() {
		more = MoreNote
	}
	parts := SplitText(text, MaxTextBytes, more)
	var sent, late bool
	if c.HoldsLate() && len(parts) > 1 && !c.Late() {
		// The rest is held before the first part answers the push: the
		// user's next push may come as soon as they read it. (Should the
		// push be settled in between, the first part is held behind the
		// rest: a window of microseconds at the pending deadline.)
		a.followUps(ctx, c, parts, 1)
		sent, late = c.Answer(&wechat.Reply{Type: wechat.ReplyText, Content: parts[0]})
		parts = parts[:1]
	} else {
		sent, late = c.Answer(&wechat.Reply{Type: wechat.ReplyText, Content: parts[0]})
	}
	if !sent {
		c.Logger.Warn("ai: another rule answered the push first; the answer goes after it", "rule", c.Rule.Name)
		late = true
		a.followUps(ctx, c, parts, 0)
	} else {
		a.followUps(ctx, c, parts, 1)
	}
	switch {
	case !late:
		return "passive"
	case c.HoldsLate():
		return "pending"
	}
	return "kefu"
}

// followUps sends parts[from:] after the push's reply, in order.
func (a *aiAction) followUps(ctx context.Context, c *engine.Call, parts []string, from int) {
	for i := from; i < len(parts); i++ {
		if err := c.FollowUp(ctx, &wechat.Reply{Type: wechat.ReplyText, Content: parts[i]}); err != nil {
			c.Logger.Error("ai: a part of the answer could not be sent", "rule", c.Rule.Name, "part", i+1, "of", len(parts), "err", err)
		}
	}
}

// clipUTF8 cuts s to at most n bytes at a character boundary.
func clipUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
