package actions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine"
)

// AIHandoff is the ai action's `handoff:`: when the user asks for a
// person, or the model says it cannot help, the user is transferred to
// the customer-service (kefu) system instead of being answered.
type AIHandoff struct {
	Keywords []string     `yaml:"keywords" doc:"a question containing one of these (letter case ignored) hands off at once: no model call, no daily_limit count"`
	Marker   string       `yaml:"marker" doc:"a model answer containing this text (tell the model when to write it, in system; e.g. [转人工]) is not sent: the handoff runs instead"`
	Actions  engine.Steps `yaml:"actions" doc:"what a handoff does, as a rule's actions (a transfer, a webhook alerting staff, …); default: a transfer to any online kefu"`
}

// Validate checks that something can start the handoff.
func (h *AIHandoff) Validate() error {
	var errs []error
	if len(h.Keywords) == 0 && strings.TrimSpace(h.Marker) == "" {
		errs = append(errs, errors.New("handoff: give keywords, a marker or both (what hands the user to a person)"))
	}
	for i, k := range h.Keywords {
		if engine.NormalizeText(k) == "" {
			errs = append(errs, fmt.Errorf("handoff: keywords[%d]: empty (it would match every question)", i))
		}
	}
	if h.Marker != "" && strings.TrimSpace(h.Marker) == "" {
		errs = append(errs, errors.New("handoff: marker: only spaces (it would match almost every answer); use a token such as [转人工]"))
	}
	return errors.Join(errs...)
}

// asked reports whether the question holds one of the keywords.
func (h *AIHandoff) asked(q string) bool {
	if h == nil {
		return false
	}
	q = engine.NormalizeText(q)
	for _, k := range h.Keywords {
		if strings.Contains(q, engine.NormalizeText(k)) {
			return true
		}
	}
	return false
}

// marked reports whether the model's raw answer (before the Markdown is
// shaped, which could change the marker) holds the marker.
func (h *AIHandoff) marked(answer string) bool {
	return h != nil && h.Marker != "" && strings.Contains(answer, h.Marker)
}

// newHandoff builds the default handoff, a transfer to any online kefu,
// from the registered transfer action, so that it behaves as a
// `transfer` step would (the user waits for an agent: user.kf).
func newHandoff(h *AIHandoff) (engine.Steps, error) {
	if h == nil || len(h.Actions) > 0 {
		return nil, nil
	}
	spec, ok := engine.LookupAction("transfer")
	if !ok {
		return nil, errors.New("handoff: the transfer action is not registered")
	}
	act, err := spec.New(spec.Params())
	if err != nil {
		return nil, fmt.Errorf("handoff: %w", err)
	}
	return engine.Steps{{Name: "transfer", Action: act, Passive: true, Inline: spec.Inline}}, nil
}

// handOff runs the handoff's actions instead of answering. A transfer is
// only ever the push's passive reply: on an account with the kefu API,
// an answer ready after the push was answered cannot transfer anyone, so
// the default handoff sends the answer without the marker instead (the
// user hears something), and the operator is told. Actions of the
// operator's own run as they are: they may hold more than a transfer.
func (a *aiAction) handOff(ctx context.Context, c *engine.Call, why, answer string, obs AIObserver, start time.Time) error {
	steps := a.p.Handoff.Actions
	if len(steps) == 0 {
		steps = a.transfer
		if c.Late() && !c.HoldsLate() {
			return a.missedHandoff(ctx, c, answer, obs, start)
		}
	}
	c.Logger.Info("ai: handing the user to a person", "rule", c.Rule.Name, "why", why)
	c.Handoff(engine.HandoffAI)
	err := c.Run(ctx, steps)
	if obs != nil {
		obs.AIAnswer("handoff", time.Since(start))
	}
	if err != nil {
		return fmt.Errorf("ai: handoff: %w", err)
	}
	return nil
}

// missedHandoff answers with the answer that asked for a person too late
// to transfer the user, the marker cut out.
func (a *aiAction) missedHandoff(ctx context.Context, c *engine.Call, answer string, obs AIObserver, start time.Time) error {
	c.Logger.Warn("ai: the model asked for a person after the push was answered; a transfer can only be the passive reply, so the answer is sent without the marker (a faster model, or handoff.actions that alert staff, help)",
		"rule", c.Rule.Name)
	text := strings.TrimSpace(strings.ReplaceAll(answer, a.p.Handoff.Marker, ""))
	if text == "" {
		a.say(ctx, c, &a.p.Apology, obs, "error", start)
		return nil
	}
	outcome := a.deliver(ctx, c, a.p.Markdown.Shape(text))
	if obs != nil {
		obs.AIAnswer(outcome, time.Since(start))
	}
	return nil
}
