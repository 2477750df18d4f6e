package bot_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxbot/wxbot/cmd/bot"
	"github.com/wxbot/wxbot/engine/callback"
	"github.com/wxbot/wxbot/engine/store"
	_ "github.com/wxbot/wxbot/engine/store/redis"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

const kefuRules = `version: 1
rules:
  - name: ack
    on: text
    actions:
      - kefu: {text: "收到"}
`

// BenchmarkKefuSendRate: kefu sends per second through the outbox of one
// bot, to as many users as sends, against a fake API answering each send
// in 100 ms (the rate a real process reaches: HTTP to the fake, the store's
// commits, the outbox's workers). Reported as sends/s; b.N is the number of
// sends. STORE=redis runs it on Redis at 127.0.0.1:6379.
func BenchmarkKefuSendRate(b *testing.B) {
	api := wechattest.New("wxtest", "sec")
	defer api.Close()
	var delivered atomic.Int64
	all := make(chan struct{})
	want := int64(b.N)
	api.Handle("/cgi-bin/message/custom/send", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond) // WeChat answering
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
		if delivered.Add(1) == want {
			close(all)
		}
	})
	dir := b.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	os.WriteFile(path, []byte(kefuRules), 0o644)
	url := "bolt:" + filepath.Join(dir, "wxbot.db")
	if os.Getenv("STORE") == "redis" {
		prefix := fmt.Sprintf("wxbot-rate-%d:", time.Now().UnixNano())
		url = "redis://127.0.0.1:6379/0?prefix=" + prefix
		b.Cleanup(func() {
			rc := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
			defer rc.Close()
			if keys, _ := rc.Keys(context.Background(), prefix+"*").Result(); len(keys) > 0 {
				rc.Del(context.Background(), keys...)
			}
		})
	}
	bt, err := bot.New(bot.Settings{
		Callback: callback.Config{Token: "tok", ReplyDeadline: 4 * time.Second},
		AppID:    "wxtest", Secret: "sec", APIBase: api.URL, TokenAPI: wechat.TokenAPIStable,
		Rules: path, Location: time.UTC, Store: url,
		StoreOptions: store.Options{Spool: filepath.Join(dir, "spool.db")},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer bt.Stop(context.Background())
	h := bt.Callback()
	b.ResetTimer()
	start := time.Now()
	bt.Start()
	// Pushes arrive 32 at a time, as WeChat's do under load.
	var next atomic.Int64
	var pushers sync.WaitGroup
	for range 32 {
		pushers.Go(func() {
			for i := int(next.Add(1) - 1); i < b.N; i = int(next.Add(1) - 1) {
				pushUser(h, i)
			}
		})
	}
	pushers.Wait()
	<-all
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
}

// pushUser sends user i's signed text push.
func pushUser(h http.Handler, i int) {
	ts := fmt.Sprint(time.Now().Unix())
	nonce := fmt.Sprint("n", i)
	body := fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[oU%d]]></FromUserName>`+
		`<CreateTime>%s</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>%d</MsgId></xml>`, i, ts, 1000+i)
	q := fmt.Sprintf("?signature=%s&timestamp=%s&nonce=%s", wechat.Signature("tok", ts, nonce), ts, nonce)
	req, _ := http.NewRequest(http.MethodPost, "/wechat"+q, strings.NewReader(body))
	h.ServeHTTP(&discard{header: http.Header{}}, req)
}

type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
