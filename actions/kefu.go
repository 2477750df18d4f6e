package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/wechat"
)

func init() {
	engine.Register(engine.Spec{
		Name:   "kefu",
		Doc:    "send a customer-service message later, through the durable outbox (within WeChat's kefu window)",
		Params: func() any { return new(KefuParams) },
		New:    func(p any) (engine.Action, error) { return &kefuAction{p: p.(*KefuParams)}, nil },
		Deliverers: func(d engine.Delivery) map[string]outbox.Deliverer {
			if d.Client == nil {
				return nil // no API credentials: kefu sends wait
			}
			return map[string]outbox.Deliverer{outbox.KindKefu: &KefuDeliverer{Client: d.Client, Store: d.Store, Now: d.Now,
				Log: d.Logger, WindowClosed: d.WindowClosed}}
		},
	})
}

// KefuParams are the params of `kefu`. Set exactly one message type.
type KefuParams struct {
	Text            []engine.Template  `yaml:"text" doc:"text; a list means pick one at random; may contain <a href> links"`
	Image           *MediaParams       `yaml:"image" doc:"an uploaded image"`
	Voice           *MediaParams       `yaml:"voice" doc:"an uploaded voice clip"`
	Video           *KefuVideoParams   `yaml:"video" doc:"an uploaded video"`
	Music           *MusicParams       `yaml:"music" doc:"a music card"`
	News            []ArticleParams    `yaml:"news" doc:"one article card (WeChat refuses more with 45008)"`
	MPNews          *MediaParams       `yaml:"mpnews" doc:"a material article by media_id (no longer supported by WeChat for new drafts)"`
	MPNewsArticle   *ArticleIDParams   `yaml:"mpnewsarticle" doc:"a published article by article_id"`
	MsgMenu         *MsgMenuParams     `yaml:"msgmenu" doc:"a question with tappable answers; a tap comes back as a text message"`
	WxCard          *CardParams        `yaml:"wxcard" doc:"a card without a custom code"`
	MiniProgramPage *MiniProgramParams `yaml:"miniprogrampage" doc:"a mini-program card (the mini program must be linked)"`
	KfAccount       engine.Template    `yaml:"kf_account" doc:"send as this kefu account (prefix@wechat-id)"`
	Delay           time.Duration      `yaml:"delay" doc:"wait this long before sending, e.g. 30s"`
	Typing          bool               `yaml:"typing" doc:"show typing… before the message"`
}

// KefuVideoParams is a kefu video; WeChat wants a thumbnail.
type KefuVideoParams struct {
	MediaID      engine.Template `yaml:"media_id"`
	ThumbMediaID engine.Template `yaml:"thumb_media_id"`
	Title        engine.Template `yaml:"title"`
	Description  engine.Template `yaml:"description"`
}

// ArticleIDParams names a published article.
type ArticleIDParams struct {
	ArticleID engine.Template `yaml:"article_id"`
}

// MsgMenuParams is a msgmenu message.
type MsgMenuParams struct {
	HeadContent engine.Template `yaml:"head_content"`
	List        []MsgMenuEntry  `yaml:"list" doc:"the answers; each id comes back as bizmsgmenuid"`
	TailContent engine.Template `yaml:"tail_content"`
}

// MsgMenuEntry is one answer of a msgmenu.
type MsgMenuEntry struct {
	ID      string          `yaml:"id"`
	Content engine.Template `yaml:"content"`
}

// CardParams names a card.
type CardParams struct {
	CardID engine.Template `yaml:"card_id"`
}

// MiniProgramParams is a mini-program card.
type MiniProgramParams struct {
	Title        engine.Template `yaml:"title"`
	AppID        engine.Template `yaml:"appid"`
	PagePath     engine.Template `yaml:"pagepath"`
	ThumbMediaID engine.Template `yaml:"thumb_media_id"`
}

// Validate checks that exactly one message type is set, with its required
// fields, before the rules load.
func (p *KefuParams) Validate() error {
	types := map[string]bool{
		"text": len(p.Text) > 0, "image": p.Image != nil, "voice": p.Voice != nil, "video": p.Video != nil,
		"music": p.Music != nil, "news": len(p.News) > 0, "mpnews": p.MPNews != nil,
		"mpnewsarticle": p.MPNewsArticle != nil, "msgmenu": p.MsgMenu != nil, "wxcard": p.WxCard != nil,
		"miniprogrampage": p.MiniProgramPage != nil,
	}
	var set []string
	for _, t := range kefuTypes {
		if types[t] {
			set = append(set, t)
		}
	}
	switch len(set) {
	case 0:
		return fmt.Errorf("want one of %s", strings.Join(kefuTypes, ", "))
	case 1:
	default:
		return fmt.Errorf("want one message type, got %d (%s): use one kefu action per message", len(set), strings.Join(set, ", "))
	}
	req := func(field string, t *engine.Template) error {
		if t.IsZero() {
			return fmt.Errorf("%s: required", field)
		}
		return nil
	}
	var errs []error
	for i, t := range p.Text {
		if t.IsZero() {
			errs = append(errs, fmt.Errorf("text[%d]: empty text", i))
		}
	}
	switch {
	case p.Image != nil:
		errs = append(errs, req("image.media_id", &p.Image.MediaID))
	case p.Voice != nil:
		errs = append(errs, req("voice.media_id", &p.Voice.MediaID))
	case p.Video != nil:
		errs = append(errs, req("video.media_id", &p.Video.MediaID), req("video.thumb_media_id", &p.Video.ThumbMediaID))
	case p.Music != nil:
		errs = append(errs, req("music.thumb_media_id", &p.Music.ThumbMediaID))
	case len(p.News) > 1:
		errs = append(errs, fmt.Errorf("news: %d articles, a kefu news message takes 1 (WeChat answers 45008)", len(p.News)))
	case len(p.News) == 1:
		errs = append(errs, req("news[0].title", &p.News[0].Title))
	case p.MPNews != nil:
		errs = append(errs, req("mpnews.media_id", &p.MPNews.MediaID))
	case p.MPNewsArticle != nil:
		errs = append(errs, req("mpnewsarticle.article_id", &p.MPNewsArticle.ArticleID))
	case p.MsgMenu != nil:
		if len(p.MsgMenu.List) == 0 {
			errs = append(errs, errors.New("msgmenu.list: want at least one answer"))
		}
		seen := map[string]bool{}
		for i, e := range p.MsgMenu.List {
			switch {
			case e.ID == "":
				errs = append(errs, fmt.Errorf("msgmenu.list[%d].id: required", i))
			case seen[e.ID]:
				errs = append(errs, fmt.Errorf("msgmenu.list[%d].id: %q used twice", i, e.ID))
			}
			seen[e.ID] = true
			errs = append(errs, req(fmt.Sprintf("msgmenu.list[%d].content", i), &p.MsgMenu.List[i].Content))
		}
	case p.WxCard != nil:
		errs = append(errs, req("wxcard.card_id", &p.WxCard.CardID))
	case p.MiniProgramPage != nil:
		m := p.MiniProgramPage
		errs = append(errs, req("miniprogrampage.title", &m.Title), req("miniprogrampage.appid", &m.AppID),
			req("miniprogrampage.pagepath", &m.PagePath), req("miniprogrampage.thumb_media_id", &m.ThumbMediaID))
	}
	if k := p.KfAccount.String(); k != "" && p.KfAccount.Constant() && !strings.Contains(k, "@") {
		errs = append(errs, fmt.Errorf("kf_account: %q is not of the form prefix@wechat-id", k))
	}
	if p.Delay > 48*time.Hour {
		errs = append(errs, fmt.Errorf("delay: %v is beyond any kefu window (48h at most)", p.Delay))
	}
	return errors.Join(errs...)
}

var kefuTypes = []string{"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle", "msgmenu", "wxcard", "miniprogrampage"}

// Lint warns where the sends cannot fit the window of the rule's events
// (developers.weixin.qq.com/doc/subscription/api/customer/message/api_sendcustommessage.html).
func (p *KefuParams) Lint(info engine.LintInfo) []string {
	var out []string
	for _, on := range info.On {
		if on == "*" {
			continue
		}
		quota, validity := engine.KefuWindowFor(&engine.Event{Type: on})
		switch {
		case quota == 0:
			what := "opens no kefu window"
			if on == "payment" {
				what = "opens no kefu window since 2023 (use template or webhook)"
			}
			out = append(out, fmt.Sprintf("a %s event %s: this send can only use a window an earlier message opened", on, what))
		case info.Before >= quota:
			out = append(out, fmt.Sprintf("send %d of this rule exceeds the %d sends a %s event allows", info.Before+1, quota, on))
		case p.Delay >= validity:
			out = append(out, fmt.Sprintf("delay %v outlasts the %v window a %s event opens", p.Delay, validity, on))
		}
	}
	return out
}

type kefuAction struct{ p *KefuParams }

// Delay is how long after the push the send goes out: explain checks it
// against the kefu window the push opens.
func (a *kefuAction) Delay() time.Duration { return a.p.Delay }

// Run renders the message and queues it; the outbox delivers it.
func (a *kefuAction) Run(ctx context.Context, c *engine.Call) error {
	m, err := a.build(c)
	if err != nil {
		return err
	}
	return c.Enqueue(ctx, outbox.KindKefu, m, engine.SendOptions{Delay: a.p.Delay, Typing: a.p.Typing})
}

func (a *kefuAction) build(c *engine.Call) (*wechat.KefuMessage, error) {
	rd := renderer{c: c}
	m := a.p.message(c.Event.From, rd.render)
	return m, rd.err
}

// message is the kefu message p sends to openID, its strings rendered by
// render.
func (p *KefuParams) message(openID string, render func(*engine.Template) string) *wechat.KefuMessage {
	m := &wechat.KefuMessage{ToUser: openID}
	switch {
	case len(p.Text) > 0:
		m.MsgType, m.Text = "text", &wechat.KefuText{Content: render(&p.Text[rand.IntN(len(p.Text))])}
	case p.Image != nil:
		m.MsgType, m.Image = "image", &wechat.KefuMedia{MediaID: render(&p.Image.MediaID)}
	case p.Voice != nil:
		m.MsgType, m.Voice = "voice", &wechat.KefuMedia{MediaID: render(&p.Voice.MediaID)}
	case p.Video != nil:
		v := p.Video
		m.MsgType, m.Video = "video", &wechat.KefuVideo{MediaID: render(&v.MediaID), ThumbMediaID: render(&v.ThumbMediaID),
			Title: render(&v.Title), Description: render(&v.Description)}
	case p.Music != nil:
		v := p.Music
		m.MsgType, m.Music = "music", &wechat.KefuMusic{Title: render(&v.Title), Description: render(&v.Description),
			MusicURL: render(&v.MusicURL), HQMusicURL: render(&v.HQMusicURL), ThumbMediaID: render(&v.ThumbMediaID)}
	case len(p.News) > 0:
		n := &p.News[0]
		m.MsgType, m.News = "news", &wechat.KefuNews{Articles: []wechat.KefuArticle{{Title: render(&n.Title),
			Description: render(&n.Description), URL: render(&n.URL), PicURL: render(&n.PicURL)}}}
	case p.MPNews != nil:
		m.MsgType, m.MPNews = "mpnews", &wechat.KefuMedia{MediaID: render(&p.MPNews.MediaID)}
	case p.MPNewsArticle != nil:
		m.MsgType, m.MPNewsArticle = "mpnewsarticle", &wechat.KefuArticleID{ArticleID: render(&p.MPNewsArticle.ArticleID)}
	case p.MsgMenu != nil:
		mm := &wechat.KefuMsgMenu{HeadContent: render(&p.MsgMenu.HeadContent), TailContent: render(&p.MsgMenu.TailContent)}
		for i := range p.MsgMenu.List {
			e := &p.MsgMenu.List[i]
			mm.List = append(mm.List, wechat.KefuMsgMenuEntry{ID: e.ID, Content: render(&e.Content)})
		}
		m.MsgType, m.MsgMenu = "msgmenu", mm
	case p.WxCard != nil:
		m.MsgType, m.WxCard = "wxcard", &wechat.KefuCard{CardID: render(&p.WxCard.CardID)}
	case p.MiniProgramPage != nil:
		v := p.MiniProgramPage
		m.MsgType, m.MiniProgramPage = "miniprogrampage", &wechat.KefuMiniProgramPage{Title: render(&v.Title),
			AppID: render(&v.AppID), PagePath: render(&v.PagePath), ThumbMediaID: render(&v.ThumbMediaID)}
	}
	if !p.KfAccount.IsZero() {
		m.CustomService = &wechat.KefuAccount{KfAccount: render(&p.KfAccount)}
	}
	return m
}

// ErrKefuWindowClosed means the user's kefu window is certainly closed:
// the send was not attempted, to spare API quota.
var ErrKefuWindowClosed = errors.New("kefu window closed for this user (its time is over, or WeChat refused since the user's last message; no API call made): the user must message the account again")

// KefuDeliverer delivers kefu sends with the API client, spending the
// user's kefu window first.
type KefuDeliverer struct {
	Client *wechat.Client
	Store  engine.KefuWindows
	Now    func() time.Time
	Log    *slog.Logger
	// WindowClosed is told about sends refused for a closed window
	// (metrics); nil is fine.
	WindowClosed func(s *outbox.Send)
}

// windowClosed takes a slot of the user's window and reports whether the
// send is certain to be refused: the store knows the user's window and it
// is closed. A window the store does not know (never seen, or lost with
// Redis) is attempted: only WeChat knows then, and its 45015 or 45047
// closes it for the user's next sends.
func (d *KefuDeliverer) windowClosed(ctx context.Context, openID string) (bool, error) {
	ok, err := d.Store.TakeWindowSlot(ctx, openID, d.Now())
	if err != nil {
		return false, fmt.Errorf("checking the kefu window (the send is retried): %w", err)
	}
	if ok {
		return false, nil
	}
	k, canTell := d.Store.(engine.WindowKnower)
	if !canTell {
		return true, nil
	}
	known, err := k.KnowsWindow(ctx, openID)
	if err != nil {
		return false, fmt.Errorf("checking the kefu window (the send is retried): %w", err)
	}
	return known, nil
}

// windowCodes mean WeChat refused: the user's kefu window is closed or used up.
var windowCodes = []int{45015, 45047}

// Deliver implements outbox.Deliverer.
func (d *KefuDeliverer) Deliver(ctx context.Context, s *outbox.Send) error {
	var m wechat.KefuMessage
	if err := json.Unmarshal(s.Payload, &m); err != nil {
		return outbox.Permanent(fmt.Errorf("kefu send %s: bad payload: %w", s.ID, err))
	}
	m.ToUser = s.OrderKey // kefu sends are ordered by their recipient
	// The slot is spent on the first attempt only: a retry after a network
	// error is the same message, which WeChat counts at most once.
	if s.Attempts == 0 {
		closed, err := d.windowClosed(ctx, s.OrderKey)
		if err != nil {
			return err
		}
		if closed {
			if d.WindowClosed != nil {
				d.WindowClosed(s)
			}
			return outbox.Permanent(ErrKefuWindowClosed)
		}
	}
	if s.Typing {
		if err := d.Client.Typing(ctx, s.OrderKey, true); err != nil && d.Log != nil {
			d.Log.Warn("kefu typing failed; sending anyway", "rule", s.Rule, "err", err)
		}
	}
	err := d.Client.SendKefu(ctx, &m)
	switch code, isAPI := wechat.APICode(err); {
	case err == nil:
		return nil
	case wechat.IsRetryable(err), wechat.IsTokenExpired(err):
		return err
	case isAPI && slices.Contains(windowCodes, code):
		if cerr := d.Store.CloseWindow(ctx, s.OrderKey); cerr != nil && d.Log != nil {
			d.Log.Warn("recording the closed kefu window failed", "err", cerr)
		}
		return outbox.Permanent(err)
	default:
		return outbox.Permanent(err)
	}
}
