package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// queued runs a kefu action and returns the JSON it queued.
func queued(t *testing.T, p *KefuParams) (*outbox.Send, string) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	store := memory.New(nil)
	ob := outbox.New(store, outbox.Options{})
	ob.Register(outbox.KindKefu, outbox.DelivererFunc(func(context.Context, *outbox.Send) error { return nil }))
	ev := &engine.Event{ID: "push", Type: "text", From: "oUser", Content: "hi"}
	c, _ := engine.NewTestCall(ev, engine.NewEnv(ev, map[string]any{"shop": "小店"}, time.Now, time.UTC), ob)
	spec, _ := engine.LookupAction("kefu")
	a, _ := spec.New(p)
	if err := a.Run(context.Background(), c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	due, _ := store.Due(context.Background(), time.Now().Add(time.Hour), 10, nil)
	if len(due) != 1 {
		t.Fatalf("%d sends queued", len(due))
	}
	return due[0], string(due[0].Payload)
}

func TestKefuMessages(t *testing.T) {
	tests := []struct {
		name string
		p    KefuParams
		want string
	}{
		{"text", KefuParams{Text: []engine.Template{tpl("${vars.shop}: <a href=\"https://x.cn/?a=1&b=2\">${event.content}</a>")}},
			`{"touser":"oUser","msgtype":"text","text":{"content":"小店: <a href=\"https://x.cn/?a=1&b=2\">hi</a>"}}`},
		{"image", KefuParams{Image: &MediaParams{MediaID: tpl("M")}}, `{"touser":"oUser","msgtype":"image","image":{"media_id":"M"}}`},
		{"voice", KefuParams{Voice: &MediaParams{MediaID: tpl("V")}}, `{"touser":"oUser","msgtype":"voice","voice":{"media_id":"V"}}`},
		{"video", KefuParams{Video: &KefuVideoParams{MediaID: tpl("M"), ThumbMediaID: tpl("T"), Title: tpl("t")}},
			`{"touser":"oUser","msgtype":"video","video":{"media_id":"M","thumb_media_id":"T","title":"t"}}`},
		{"music", KefuParams{Music: &MusicParams{Title: tpl("t"), MusicURL: tpl("u"), HQMusicURL: tpl("h"), ThumbMediaID: tpl("T")}},
			`{"touser":"oUser","msgtype":"music","music":{"title":"t","musicurl":"u","hqmusicurl":"h","thumb_media_id":"T"}}`},
		{"news", KefuParams{News: []ArticleParams{{Title: tpl("a"), URL: tpl("u"), PicURL: tpl("p")}}},
			`{"touser":"oUser","msgtype":"news","news":{"articles":[{"title":"a","url":"u","picurl":"p"}]}}`},
		{"mpnews", KefuParams{MPNews: &MediaParams{MediaID: tpl("M")}}, `{"touser":"oUser","msgtype":"mpnews","mpnews":{"media_id":"M"}}`},
		{"mpnewsarticle", KefuParams{MPNewsArticle: &ArticleIDParams{ArticleID: tpl("A")}},
			`{"touser":"oUser","msgtype":"mpnewsarticle","mpnewsarticle":{"article_id":"A"}}`},
		{"msgmenu", KefuParams{MsgMenu: &MsgMenuParams{HeadContent: tpl("满意吗?"), List: []MsgMenuEntry{{ID: "101", Content: tpl("满意")}, {ID: "102", Content: tpl("不满意")}}}},
			`{"touser":"oUser","msgtype":"msgmenu","msgmenu":{"head_content":"满意吗?","list":[{"id":"101","content":"满意"},{"id":"102","content":"不满意"}]}}`},
		{"wxcard", KefuParams{WxCard: &CardParams{CardID: tpl("C")}}, `{"touser":"oUser","msgtype":"wxcard","wxcard":{"card_id":"C"}}`},
		{"miniprogrampage", KefuParams{MiniProgramPage: &MiniProgramParams{Title: tpl("t"), AppID: tpl("wx1"), PagePath: tpl("p/i"), ThumbMediaID: tpl("T")}},
			`{"touser":"oUser","msgtype":"miniprogrampage","miniprogrampage":{"title":"t","appid":"wx1","pagepath":"p/i","thumb_media_id":"T"}}`},
		{"as a kefu account", KefuParams{Text: []engine.Template{tpl("x")}, KfAccount: tpl("a@b")},
			`{"touser":"oUser","msgtype":"text","text":{"content":"x"},"customservice":{"kf_account":"a@b"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, got := queued(t, &tt.p)
			if got != tt.want {
				t.Errorf("payload\n%s\nwant\n%s", got, tt.want)
			}
			if s.Kind != outbox.KindKefu || s.OrderKey != "oUser" || s.ID != "push/test/0/1" {
				t.Errorf("send %+v", s)
			}
		})
	}
	// A delayed send waits as a stand-in, out of the user's line.
	s, _ := queued(t, &KefuParams{Text: []engine.Template{tpl("x")}, Delay: time.Minute, Typing: true})
	var inner outbox.Send
	if err := json.Unmarshal(s.Payload, &inner); err != nil || s.Kind != outbox.KindDelayed || inner.Kind != outbox.KindKefu ||
		!inner.Typing || s.NotBefore.Before(time.Now().Add(50*time.Second)) {
		t.Errorf("delay and typing not kept: %+v (%s): %v", s, s.Payload, err)
	}
}

func TestKefuValidate(t *testing.T) {
	tests := []struct {
		p    KefuParams
		want string
	}{
		{KefuParams{}, "want one of text, image, voice, video, music, news, mpnews, mpnewsarticle, msgmenu, wxcard, miniprogrampage"},
		{KefuParams{Text: []engine.Template{tpl("a")}, WxCard: &CardParams{}}, "want one message type, got 2 (text, wxcard): use one kefu action per message"},
		{KefuParams{Video: &KefuVideoParams{MediaID: tpl("m")}}, "video.thumb_media_id: required"},
		{KefuParams{News: []ArticleParams{{Title: tpl("a")}, {Title: tpl("b")}}}, "news: 2 articles, a kefu news message takes 1 (WeChat answers 45008)"},
		{KefuParams{MsgMenu: &MsgMenuParams{List: []MsgMenuEntry{{ID: "1", Content: tpl("a")}, {ID: "1", Content: tpl("b")}}}}, `msgmenu.list[1].id: "1" used twice`},
		{KefuParams{MiniProgramPage: &MiniProgramParams{Title: tpl("t")}}, "miniprogrampage.appid: required\nminiprogrampage.pagepath: required\nminiprogrampage.thumb_media_id: required"},
		{KefuParams{Text: []engine.Template{tpl("a")}, KfAccount: tpl("nobody")}, `kf_account: "nobody" is not of the form prefix@wechat-id`},
		{KefuParams{Text: []engine.Template{tpl("a")}, Delay: 49 * time.Hour}, "delay: 49h0m0s is beyond any kefu window (48h at most)"},
	}
	for _, tt := range tests {
		if err := tt.p.Validate(); err == nil || err.Error() != tt.want {
			t.Errorf("Validate = %v, want %q", err, tt.want)
		}
	}
}

func TestKefuLint(t *testing.T) {
	p := &KefuParams{Text: []engine.Template{tpl("a")}, Delay: 2 * time.Minute}
	got := p.Lint(engine.LintInfo{On: []string{"click", "view", "payment", "text"}, Before: 0})
	want := []string{
		"delay 2m0s outlasts the 1m0s window a click event opens",
		"a view event opens no kefu window: this send can only use a window an earlier message opened",
		"a payment event opens no kefu window since 2023 (use template or webhook): this send can only use a window an earlier message opened",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lint %q\nwant %q", got, want)
	}
	got = (&KefuParams{}).Lint(engine.LintInfo{On: []string{"subscribe", "text"}, Before: 3})
	if fmt.Sprint(got) != "[send 4 of this rule exceeds the 3 sends a subscribe event allows]" {
		t.Errorf("quota lint %q", got)
	}
}

// deliverer returns a KefuDeliverer against a fake API.
func deliverer(t *testing.T) (*KefuDeliverer, *wechattest.Server, store.Store) {
	t.Helper()
	fake := wechattest.New("wxapp", "secret")
	t.Cleanup(fake.Close)
	c, err := wechat.NewClient(wechat.ClientConfig{Base: fake.URL, AppID: "wxapp", Secret: "secret", HTTP: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New(nil)
	return &KefuDeliverer{Client: c, Store: store, Now: time.Now}, fake, store
}

func kefuSend(user string) *outbox.Send {
	return &outbox.Send{ID: "s", Kind: outbox.KindKefu, OrderKey: user, Payload: json.RawMessage(`{"msgtype":"text","text":{"content":"hi"}}`)}
}

func TestKefuDeliverer(t *testing.T) {
	ctx := context.Background()
	d, fake, store := deliverer(t)

	// A click opens 3 sends for a minute.
	store.OpenWindow(ctx, "oU", time.Now().Add(time.Minute))
	s := kefuSend("oU")
	s.Typing = true
	if err := d.Deliver(ctx, s); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls("")
	if len(calls) != 2 || calls[0].Path != "/cgi-bin/message/custom/typing" || calls[1].Path != "/cgi-bin/message/custom/send" ||
		!strings.Contains(string(calls[1].Body), `"touser":"oU"`) {
		t.Errorf("calls %+v, want typing then the send to oU", calls)
	}

	// Transient: retried by the outbox; the slot is not spent twice.
	fake.FailNext("/cgi-bin/message/custom/send", -1)
	s = kefuSend("oU")
	err := d.Deliver(ctx, s)
	if err == nil || outbox.IsPermanent(err) {
		t.Errorf("-1: %v, want a retryable error", err)
	}
	s.Attempts = 1
	if err := d.Deliver(ctx, s); err != nil {
		t.Errorf("retry: %v", err)
	}
	// That was slot 2 of 3 (the retry reused it). Past the count, WeChat
	// decides (openings may stack): the 4th and 5th are attempted.
	for i := 3; i <= 5; i++ {
		if err := d.Deliver(ctx, kefuSend("oU")); err != nil {
			t.Errorf("send %d in the window's time: %v", i, err)
		}
	}
	// Once the window's time is over, a send is refused without a call.
	store.OpenWindow(ctx, "oGone", time.Now().Add(-time.Second))
	before := len(fake.Calls(""))
	if err := d.Deliver(ctx, kefuSend("oGone")); !errors.Is(err, ErrKefuWindowClosed) || len(fake.Calls("")) != before {
		t.Errorf("after the window's time: %v, %d API calls; want refused without a call", err, len(fake.Calls(""))-before)
	}

	// 45015 and 45047 close the window and are not retried.
	for _, code := range []int{45015, 45047} {
		store.OpenWindow(ctx, "oW", time.Now().Add(48*time.Hour))
		fake.FailNext("/cgi-bin/message/custom/send", code)
		err := d.Deliver(ctx, kefuSend("oW"))
		if c, _ := wechat.APICode(err); c != code || !outbox.IsPermanent(err) {
			t.Errorf("%d: %v, want it permanent", code, err)
		}
		if ok, _ := store.TakeWindowSlot(ctx, "oW", time.Now()); ok {
			t.Errorf("%d did not close the window", code)
		}
	}
	// Other permanent errors.
	for _, code := range []int{43004, 40003, 48001, 45008} {
		store.OpenWindow(ctx, "oP", time.Now().Add(48*time.Hour))
		fake.FailNext("/cgi-bin/message/custom/send", code)
		if err := d.Deliver(ctx, kefuSend("oP")); !outbox.IsPermanent(err) {
			t.Errorf("%d: %v, want permanent", code, err)
		}
	}
	// A token error is refreshed inside the client and succeeds.
	store.OpenWindow(ctx, "oT", time.Now().Add(48*time.Hour))
	fake.FailNext("/cgi-bin/message/custom/send", 42001)
	if err := d.Deliver(ctx, kefuSend("oT")); err != nil {
		t.Errorf("42001 once: %v", err)
	}
	if d.Deliver(ctx, &outbox.Send{OrderKey: "oT", Payload: json.RawMessage(`{`)}) == nil {
		t.Error("a broken payload was delivered")
	}
}

// forgetful is a store that cannot tell a window it never knew from one
// that is over (no store.WindowKnower).
type forgetful struct{ engine.KefuWindows }

// TestKefuWindowCertainty: a send is refused without an API call only when
// its refusal is certain: the store knows the user's window and it is over,
// or WeChat refused since the user's last opening. A window nobody knows
// (never seen, or lost with Redis) is attempted, and WeChat decides.
func TestKefuWindowCertainty(t *testing.T) {
	const sendPath = "/cgi-bin/message/custom/send"
	tests := []struct {
		name      string
		setup     func(ctx context.Context, s store.Store)
		forgetful bool
		answer    int // WeChat's errcode for the send, 0 for success
		wantCall  bool
		wantErr   error // nil, ErrKefuWindowClosed, or an API error (answer)
	}{
		{"never seen: attempted", nil, false, 0, true, nil},
		{"never seen, WeChat refuses", nil, false, 45015, true, errAPI},
		{"open", func(ctx context.Context, s store.Store) { s.OpenWindow(ctx, "oU", time.Now().Add(time.Hour)) }, false, 0, true, nil},
		{"over", func(ctx context.Context, s store.Store) { s.OpenWindow(ctx, "oU", time.Now().Add(-time.Second)) }, false, 0, false, ErrKefuWindowClosed},
		{"closed by WeChat", func(ctx context.Context, s store.Store) {
			s.OpenWindow(ctx, "oU", time.Now().Add(48*time.Hour))
			s.CloseWindow(ctx, "oU")
		}, false, 0, false, ErrKefuWindowClosed},
		{"never seen, then refused by WeChat", func(ctx context.Context, s store.Store) { s.CloseWindow(ctx, "oU") }, false, 0, false, ErrKefuWindowClosed},
		{"a store that cannot tell takes unknown as over", nil, true, 0, false, ErrKefuWindowClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			d, fake, st := deliverer(t)
			if tt.setup != nil {
				tt.setup(ctx, st)
			}
			if tt.forgetful {
				d.Store = forgetful{st}
			}
			if tt.answer != 0 {
				fake.FailNext(sendPath, tt.answer)
			}
			err := d.Deliver(ctx, kefuSend("oU"))
			if called := len(fake.Calls(sendPath)) == 1; called != tt.wantCall {
				t.Errorf("API called: %v, want %v", called, tt.wantCall)
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("err %v, want the send delivered", err)
			case tt.wantErr == errAPI:
				if code, _ := wechat.APICode(err); code != tt.answer || !outbox.IsPermanent(err) {
					t.Errorf("err %v, want WeChat's %d, permanent", err, tt.answer)
				}
				// WeChat's refusal is certain from then on: no second call.
				if err := d.Deliver(ctx, kefuSend("oU")); !errors.Is(err, ErrKefuWindowClosed) || len(fake.Calls(sendPath)) != 1 {
					t.Errorf("after WeChat refused: %v, %d API calls, want refused without a call", err, len(fake.Calls(sendPath)))
				}
			case tt.wantErr != nil && (!errors.Is(err, tt.wantErr) || !outbox.IsPermanent(err)):
				t.Errorf("err %v, want %v, permanent", err, tt.wantErr)
			}
		})
	}
}

// errAPI stands for WeChat's answer in TestKefuWindowCertainty.
var errAPI = errors.New("the API's error")
