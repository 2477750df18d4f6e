package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/wechat"
)

func init() {
	engine.Register(engine.Spec{
		Name: "template",
		Doc: "send a template message (模板消息) through the durable outbox: it reaches a follower without a kefu window, " +
			"e.g. after a payment",
		Params: func() any { return new(TemplateParams) },
		New:    func(p any) (engine.Action, error) { return &templateAction{p: p.(*TemplateParams)}, nil },
		Deliverers: func(d engine.Delivery) map[string]outbox.Deliverer {
			if d.Client == nil {
				return nil
			}
			return map[string]outbox.Deliverer{KindTemplate: &TemplateDeliverer{Client: d.Client, Log: d.Logger}}
		},
	})
}

// KindTemplate is the outbox kind of template messages.
const KindTemplate = "template"

// TemplateParams are the params of `template`.
type TemplateParams struct {
	TemplateID  engine.Template            `yaml:"template_id" doc:"the template's id (广告与服务 → 模板消息 in the console)"`
	URL         engine.Template            `yaml:"url" doc:"opens when the message is tapped"`
	MiniProgram *TemplateMiniProgramParams `yaml:"miniprogram" doc:"opens a mini program page instead of url where the client can (the mini program must be linked)"`
	Data        map[string]TemplateField   `yaml:"data" doc:"the template's keywords: name: text, or name: {value: text, color: \"#173177\"}"`
}

// TemplateMiniProgramParams is the mini program a template message opens.
type TemplateMiniProgramParams struct {
	AppID    engine.Template `yaml:"appid" doc:"the mini program's AppID; required"`
	PagePath engine.Template `yaml:"pagepath" doc:"page path with query, e.g. pages/order?id=1; empty opens the home page"`
}

// TemplateField is one keyword of a template message. In YAML a plain
// string stands for {value: string}.
type TemplateField struct {
	Value engine.Template `yaml:"value" doc:"the keyword's text"`
	Color string          `yaml:"color" doc:"#RRGGBB; most clients ignore it now"`
}

// UnmarshalText reads the shorthand: the value alone.
func (f *TemplateField) UnmarshalText(b []byte) error { return f.Value.UnmarshalText(b) }

var colorRE = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

// Validate checks the required fields and what is constant.
func (p *TemplateParams) Validate() error {
	var errs []error
	if p.TemplateID.IsZero() {
		errs = append(errs, errors.New("template_id: required (the id of a template added in the console)"))
	}
	if !p.URL.IsZero() && p.URL.Constant() {
		if err := checkWebhookURL(p.URL.String()); err != nil {
			errs = append(errs, fmt.Errorf("url: %w", err))
		}
	}
	if p.MiniProgram != nil && p.MiniProgram.AppID.IsZero() {
		errs = append(errs, errors.New("miniprogram.appid: required"))
	}
	names := make([]string, 0, len(p.Data))
	for name := range p.Data {
		names = append(names, name)
	}
	sort.Strings(names) // errors in a stable order
	for _, name := range names {
		f := p.Data[name]
		if f.Value.IsZero() {
			errs = append(errs, fmt.Errorf("data.%s.value: required", name))
		}
		if f.Color != "" && !colorRE.MatchString(f.Color) {
			errs = append(errs, fmt.Errorf("data.%s.color: %q, want #RRGGBB", name, f.Color))
		}
	}
	return errors.Join(errs...)
}

type templateAction struct{ p *TemplateParams }

// Run renders the message and queues it; the outbox delivers it.
func (a *templateAction) Run(ctx context.Context, c *engine.Call) error {
	if c.Event.From == "" {
		return errors.New("template: the event has no user (event.from) to send to")
	}
	m, err := a.build(c)
	if err != nil {
		return err
	}
	return c.Enqueue(ctx, KindTemplate, m, engine.SendOptions{})
}

func (a *templateAction) build(c *engine.Call) (*wechat.TemplateMessage, error) {
	p := a.p
	rd := renderer{c: c}
	m := &wechat.TemplateMessage{ToUser: c.Event.From, TemplateID: rd.render(&p.TemplateID), URL: rd.render(&p.URL),
		Data: make(map[string]wechat.TemplateValue, len(p.Data))}
	if mp := p.MiniProgram; mp != nil {
		m.MiniProgram = &wechat.TemplateMiniProgram{AppID: rd.render(&mp.AppID), PagePath: rd.render(&mp.PagePath)}
	}
	for name, f := range p.Data {
		m.Data[name] = wechat.TemplateValue{Value: rd.render(&f.Value), Color: f.Color}
	}
	if rd.err != nil {
		return nil, fmt.Errorf("template: %w", rd.err)
	}
	return m, nil
}

// TemplateDeliverer delivers template messages with the API client. Errors
// are classed as for kefu: -1, 45011, HTTP 5xx and network errors are
// retried; token errors are refreshed once by the client, then retried;
// everything else (43004 not following, 40003 bad OpenID, 40037 bad
// template_id, 47003 data not fitting the template, …) is permanent.
type TemplateDeliverer struct {
	Client *wechat.Client
	Log    *slog.Logger
}

// Deliver implements outbox.Deliverer.
func (d *TemplateDeliverer) Deliver(ctx context.Context, s *outbox.Send) error {
	var m wechat.TemplateMessage
	if err := json.Unmarshal(s.Payload, &m); err != nil {
		return outbox.Permanent(fmt.Errorf("template send %s: bad payload: %w", s.ID, err))
	}
	m.ToUser = s.OrderKey // template sends are ordered by their recipient
	// WeChat sends one message per (touser, client_msg_id) for 10 minutes:
	// a retry after a lost answer does not reach the user twice.
	sum := sha256.Sum256([]byte(s.ID))
	m.ClientMsgID = hex.EncodeToString(sum[:16])
	_, err := d.Client.SendTemplate(ctx, &m)
	switch {
	case err == nil:
		return nil
	case wechat.IsRetryable(err), wechat.IsTokenExpired(err):
		return err
	default:
		return outbox.Permanent(err)
	}
}
