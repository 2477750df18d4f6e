package bot_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/wxbot/wxbot/actions"
	"github.com/wxbot/wxbot/cmd/bot"
	"github.com/wxbot/wxbot/engine/callback"
	"github.com/wxbot/wxbot/engine/store"
	_ "github.com/wxbot/wxbot/engine/store/bolt"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

const goodRules = `version: 1
rules:
  - name: price
    on: text
    text: {exact: ["价格"]}
    actions:
      - reply: {text: "十元"}
      - kefu: {text: "稍后给您发价目表"}
tests:
  - name: price
    event: {type: text, from: oU, content: "价格"}
    expect: {rules: [price], reply: {text: "十元"}}
`

// settings are a bot's on a bolt file in dir, with API calls to api.
func settings(t *testing.T, dir, rulesText, api string) bot.Settings {
	t.Helper()
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, []byte(rulesText), 0o644); err != nil {
		t.Fatal(err)
	}
	return bot.Settings{
		Callback: callback.Config{Token: "tok", ReplyDeadline: 4 * time.Second},
		AppID:    "wxtest", Secret: "sec", APIBase: api, TokenAPI: wechat.TokenAPIStable,
		Rules: path, Location: time.UTC, Store: "bolt:" + filepath.Join(dir, "wxbot.db"),
		StoreOptions: store.Options{Spool: filepath.Join(dir, "spool.db")},
	}
}

// push posts a signed plaintext text push to h and returns the answer.
func push(t *testing.T, h http.Handler, content string, msgID int) string {
	t.Helper()
	ts, nonce := fmt.Sprint(time.Now().Unix()), fmt.Sprint("n", msgID)
	body := fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[oU]]></FromUserName>`+
		`<CreateTime>%s</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId></xml>`, ts, content, msgID)
	q := fmt.Sprintf("?signature=%s&timestamp=%s&nonce=%s", wechat.Signature("tok", ts, nonce), ts, nonce)
	req := httptest.NewRequest(http.MethodPost, "/wechat"+q, strings.NewReader(body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("push: %d %s", w.Code, w.Body)
	}
	return w.Body.String()
}

// TestBotAnswersAndDelivers: a bot built from settings alone answers a
// push with its rule's reply and delivers the rule's kefu send through the
// deliverer the kefu action registered.
func TestBotAnswersAndDelivers(t *testing.T) {
	api := wechattest.New("wxtest", "sec")
	defer api.Close()
	sent := make(chan string, 1)
	api.Handle("/cgi-bin/message/custom/send", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sent <- string(body)
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	})
	s := settings(t, t.TempDir(), goodRules, api.URL)
	b, err := bot.New(s)
	if err != nil {
		t.Fatal(err)
	}
	b.Start()
	if got := push(t, b.Callback(), "价格", 1); !strings.Contains(got, "十元") {
		t.Errorf("reply %s, want the rule's text", got)
	}
	if b.Client() == nil {
		t.Fatal("no API client with an AppID and a secret")
	}
	if body := <-sent; !strings.Contains(body, "稍后给您发价目表") || !strings.Contains(body, `"touser":"oU"`) {
		t.Errorf("kefu send %s", body)
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Errorf("a second Stop: %v", err)
	}
}

// TestBotRefusesBrokenRules: a broken file stops the build with ErrRules,
// its problems on the diagnostics writer, and leaves nothing open (the
// bolt file can be opened again at once).
func TestBotRefusesBrokenRules(t *testing.T) {
	dir := t.TempDir()
	s := settings(t, dir, "version: 1\nrules:\n  - name: x\n    on: text\n    when: 'event.nope +'\n    actions: [{reply: {text: a}}]\n", "http://127.0.0.1:1")
	var diag strings.Builder
	s.Diagnostics = &diag
	if _, err := bot.New(s); !errors.Is(err, bot.ErrRules) {
		t.Fatalf("New: %v, want ErrRules", err)
	}
	if !strings.Contains(diag.String(), "rules.yaml:5") {
		t.Errorf("diagnostics %q name no position", diag.String())
	}
	s = settings(t, dir, goodRules, "http://127.0.0.1:1")
	b, err := bot.New(s)
	if err != nil {
		t.Fatalf("a good build after a refused one: %v", err)
	}
	b.Stop(context.Background())
}

// TestBotSettingsErrors: settings that cannot work are ErrSettings (serve's
// usage errors), and the store opened before them is closed again.
func TestBotSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	s := settings(t, dir, goodRules, "http://127.0.0.1:1")
	s.AI = bot.AI{BaseURL: "::not a url", Model: "m", Concurrency: 1}
	if _, err := bot.New(s); !errors.Is(err, bot.ErrSettings) {
		t.Fatalf("New with a bad AI endpoint: %v, want ErrSettings", err)
	}
	s.AI = bot.AI{}
	b, err := bot.New(s)
	if err != nil {
		t.Fatalf("the store was left locked: %v", err)
	}
	b.Stop(context.Background())
}

// TestBotAdmin: the admin handler reports the bot's rules and readiness.
func TestBotAdmin(t *testing.T) {
	b, err := bot.New(settings(t, t.TempDir(), goodRules, "http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop(context.Background())
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/rules": `"name": "price"`} {
		w := httptest.NewRecorder()
		b.Admin().ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		body, _ := io.ReadAll(w.Body)
		if w.Code != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %s, want %q", path, w.Code, body, want)
		}
	}
}

// TestBotsIsolated: two accounts' bots on one store (each an account view)
// in one process: one account's API hangs on every send, the other's sends
// still go out, and each account's state is its own.
func TestBotsIsolated(t *testing.T) {
	dir := t.TempDir()
	backend, err := store.Open("bolt:"+filepath.Join(dir, "wxbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	hung := make(chan struct{})
	var release sync.Once
	slow := wechattest.New("wxtest", "sec")
	defer slow.Close()
	defer release.Do(func() { close(hung) }) // first: the server's Close waits for its handlers
	slow.Handle("/cgi-bin/message/custom/send", func(w http.ResponseWriter, r *http.Request) { <-hung })
	fast := wechattest.New("wxtest", "sec")
	defer fast.Close()
	sent := make(chan struct{}, 1)
	fast.Handle("/cgi-bin/message/custom/send", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
		sent <- struct{}{}
	})
	newBot := func(name, api, appID string) *bot.Bot {
		s := settings(t, filepath.Join(dir, name), goodRules, api)
		s.OpenStore = func(o store.Options) (*store.Backend, error) { return backend.Account(appID, o) }
		b, err := bot.New(s)
		if err != nil {
			t.Fatal(err)
		}
		b.Start()
		return b
	}
	os.MkdirAll(filepath.Join(dir, "a"), 0o755)
	os.MkdirAll(filepath.Join(dir, "b"), 0o755)
	a, b := newBot("a", slow.URL, "wxaaaaaaaaaaaaaaaa"), newBot("b", fast.URL, "wxbbbbbbbbbbbbbbbb")
	push(t, a.Callback(), "价格", 1)
	push(t, b.Callback(), "价格", 2)
	<-sent // b's send went out while a's hangs
	ctx := context.Background()
	if n, _ := a.Store().Pending(ctx); n != 1 {
		t.Errorf("a's pending sends: %d, want its hung one", n)
	}
	a.Store().PatchUser(ctx, "oU", &store.UserPatch{Set: map[string]any{"k": "a"}})
	if st, _ := b.Store().LoadUser(ctx, "oU"); st != nil {
		t.Errorf("b sees a's state %v", st)
	}
	b.Stop(ctx)
	release.Do(func() { close(hung) }) // a's delivery in flight ends, and a can stop
	a.Stop(ctx)
}
