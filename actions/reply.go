package actions

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/wechat"
)

func init() {
	engine.Register(engine.Spec{
		Name:    "reply",
		Doc:     "answer the push with a passive reply: text, image, voice, video, music or news",
		Params:  func() any { return new(ReplyParams) },
		New:     func(p any) (engine.Action, error) { return &replyAction{p: p.(*ReplyParams)}, nil },
		Passive: true,
		Inline:  true, // renders templates, nothing else
	})
}

// ReplyParams are the params of `reply`. Set exactly one of them.
type ReplyParams struct {
	// Text is the reply text; a list means pick one at random per push.
	Text []engine.Template `yaml:"text" doc:"the reply text; a list means pick one at random per push"`
	// Image replies with an uploaded image.
	Image *MediaParams `yaml:"image" doc:"an uploaded image"`
	// Voice replies with an uploaded voice clip.
	Voice *MediaParams `yaml:"voice" doc:"an uploaded voice clip"`
	// Video replies with an uploaded video.
	Video *VideoParams `yaml:"video" doc:"an uploaded video"`
	// Music replies with a music card.
	Music *MusicParams `yaml:"music" doc:"a music card"`
	// News replies with article cards: WeChat shows 1 in answer to a user's
	// message and up to 8 otherwise.
	News []ArticleParams `yaml:"news" doc:"article cards: WeChat shows 1 in answer to a user message, up to 8 otherwise"`
}

// MediaParams names uploaded media.
type MediaParams struct {
	// MediaID of uploaded material (temporary media expire after 3 days).
	MediaID engine.Template `yaml:"media_id" doc:"media_id of uploaded material (temporary media expire after 3 days)"`
}

// VideoParams is a video reply.
type VideoParams struct {
	MediaID     engine.Template `yaml:"media_id"`
	Title       engine.Template `yaml:"title"`
	Description engine.Template `yaml:"description"`
}

// MusicParams is a music reply.
type MusicParams struct {
	Title       engine.Template `yaml:"title"`
	Description engine.Template `yaml:"description"`
	MusicURL    engine.Template `yaml:"music_url"`
	HQMusicURL  engine.Template `yaml:"hq_music_url"`
	// ThumbMediaID is the uploaded cover image; WeChat requires it.
	ThumbMediaID engine.Template `yaml:"thumb_media_id" doc:"uploaded cover image; required"`
}

// ArticleParams is one news article.
type ArticleParams struct {
	Title       engine.Template `yaml:"title"`
	Description engine.Template `yaml:"description"`
	// URL opens when the card is tapped.
	URL engine.Template `yaml:"url" doc:"opens when the card is tapped"`
	// PicURL is the card image (JPG or PNG; 360×200 large, 200×200 small).
	PicURL engine.Template `yaml:"pic_url" doc:"card image, JPG or PNG (360x200 large, 200x200 small)"`
}

// MaxNewsArticles is the most articles WeChat takes in any news reply.
const MaxNewsArticles = 8

// Validate checks that exactly one reply type is set, with its required fields.
func (p *ReplyParams) Validate() error {
	var set []string
	if len(p.Text) > 0 {
		set = append(set, "text")
	}
	if p.Image != nil {
		set = append(set, "image")
	}
	if p.Voice != nil {
		set = append(set, "voice")
	}
	if p.Video != nil {
		set = append(set, "video")
	}
	if p.Music != nil {
		set = append(set, "music")
	}
	if len(p.News) > 0 {
		set = append(set, "news")
	}
	switch len(set) {
	case 0:
		return errors.New("want one of text, image, voice, video, music, news")
	case 1:
	default:
		return fmt.Errorf("want one reply type, got %d (%v): use one reply action per type", len(set), set)
	}
	for i, t := range p.Text {
		if t.IsZero() {
			return fmt.Errorf("text[%d]: empty text", i)
		}
	}
	switch {
	case p.Image != nil && p.Image.MediaID.IsZero():
		return errors.New("image.media_id: required")
	case p.Voice != nil && p.Voice.MediaID.IsZero():
		return errors.New("voice.media_id: required")
	case p.Video != nil && p.Video.MediaID.IsZero():
		return errors.New("video.media_id: required")
	case p.Music != nil && p.Music.ThumbMediaID.IsZero():
		return errors.New("music.thumb_media_id: required (upload a cover image first)")
	case len(p.News) > MaxNewsArticles:
		return fmt.Errorf("news: %d articles, WeChat takes at most %d", len(p.News), MaxNewsArticles)
	}
	for i, a := range p.News {
		if a.Title.IsZero() {
			return fmt.Errorf("news[%d].title: required", i)
		}
	}
	return nil
}

// Lint warns about news replies WeChat will cut.
func (p *ReplyParams) Lint(info engine.LintInfo) []string {
	if len(p.News) < 2 {
		return nil
	}
	for _, on := range info.On {
		if on == "*" || engine.IsMessageType(on) {
			return []string{fmt.Sprintf("news: %d articles, but WeChat shows only the first in answer to a user's message (%s)", len(p.News), on)}
		}
	}
	return nil
}

type replyAction struct{ p *ReplyParams }

func (a *replyAction) Run(_ context.Context, c *engine.Call) error {
	r, err := a.build(c)
	if err != nil {
		return err
	}
	c.Reply(r)
	return nil
}

// build renders the reply for one push.
func (a *replyAction) build(c *engine.Call) (*wechat.Reply, error) {
	p := a.p
	rd := renderer{c: c}
	var r wechat.Reply
	switch {
	case len(p.Text) > 0:
		r.Type = wechat.ReplyText
		r.Content = rd.render(&p.Text[rand.IntN(len(p.Text))])
	case p.Image != nil:
		r.Type, r.MediaID = wechat.ReplyImage, rd.render(&p.Image.MediaID)
	case p.Voice != nil:
		r.Type, r.MediaID = wechat.ReplyVoice, rd.render(&p.Voice.MediaID)
	case p.Video != nil:
		r.Type = wechat.ReplyVideo
		r.MediaID = rd.render(&p.Video.MediaID)
		r.Title, r.Description = rd.render(&p.Video.Title), rd.render(&p.Video.Description)
	case p.Music != nil:
		m := p.Music
		r.Type = wechat.ReplyMusic
		r.Title, r.Description = rd.render(&m.Title), rd.render(&m.Description)
		r.MusicURL, r.HQMusicURL = rd.render(&m.MusicURL), rd.render(&m.HQMusicURL)
		r.ThumbMediaID = rd.render(&m.ThumbMediaID)
	case len(p.News) > 0:
		r.Type = wechat.ReplyNews
		r.Articles = make([]wechat.Article, len(p.News))
		for i := range p.News {
			n := &p.News[i]
			r.Articles[i] = wechat.Article{Title: rd.render(&n.Title), Description: rd.render(&n.Description),
				PicURL: rd.render(&n.PicURL), URL: rd.render(&n.URL)}
		}
	}
	return &r, rd.err
}

// renderer renders several templates and keeps the first error, so building
// a reply reads as a list of fields.
type renderer struct {
	c   *engine.Call
	err error
}

func (r *renderer) render(t *engine.Template) string {
	s, err := r.c.Render(t)
	if err != nil && r.err == nil {
		r.err = err
	}
	return s
}
