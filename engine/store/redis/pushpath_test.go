package redis_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	_ "github.com/wxbot/wxbot/actions" // reply
	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/callback"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/redis"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

// roundTrips records the commands a client sends, alone or in a pipeline
// (the auto-pipeliner batches the scripts of concurrent pushes), but for
// the background's health checks, a new connection's handshake and the
// answers written behind.
type roundTrips struct {
	mu   sync.Mutex
	on   bool
	cmds []string
}

func (c *roundTrips) record(cmds ...goredis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cmd := range cmds {
		args := cmd.Args()
		switch name := cmd.Name(); {
		case !c.on, name == "ping", name == "hello", name == "select", name == "client", name == "auth":
		case name == "set" && len(args) > 2 && strings.HasPrefix(fmt.Sprintf("%s", args[2]), "a:"): // an answer, written behind
		default:
			c.cmds = append(c.cmds, name)
		}
	}
}

func (c *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (c *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.record(cmd)
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.record(cmds...)
		return next(ctx, cmds)
	}
}

// TestPushRoundTrips: a plain text push with a reply costs two round trips
// to Redis on its path, a command each (the replay window's script, and
// the retry claim with the kefu window in one script); the answer is
// written behind.
func TestPushRoundTrips(t *testing.T) {
	prefix := fmt.Sprintf("wxbot-test-rtt-%d-%d:", os.Getpid(), time.Now().UnixNano())
	openRedis(t, prefix, nil).Close() // skips without Redis
	b, err := redis.Open(redisURL+"?consumer=c1&prefix="+prefix, store.Options{Spool: filepath.Join(t.TempDir(), "spool"),
		Logger: slog.New(slog.DiscardHandler)}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	r := b.Store.(*redis.Guard).Primary.(*redis.Redis)
	defer cleanup(t, r)
	defer b.Close()
	counter := &roundTrips{}
	r.Client().AddHook(counter)

	loaded, err := rules.Parse("rules.yaml", []byte("version: 1\nrules:\n  - {name: hi, on: text, actions: [{reply: {text: hi}}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{State: b.Store})
	defer e.Close(context.Background())
	e.SetRules(loaded.Set)
	h := callback.NewHandler(e, callback.Config{Token: "tok", Dedup: b.Dedup, Replays: b.Replays, MaxSkew: 5 * time.Minute})
	push := func(msgID string) *httptest.ResponseRecorder {
		ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), msgID
		q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature("tok", ts, nonce)}}
		m := &wechat.Message{ToUserName: "gh_test", FromUserName: "oRTT", CreateTime: time.Now().Unix(), MsgType: "text", Content: "hello", MsgID: msgID}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/wechat?"+q.Encode(), strings.NewReader(string(wechat.EncodeMessage(m)))))
		return w
	}
	push("1") // the scripts loaded, the connections made
	counter.mu.Lock()
	counter.on = true
	counter.mu.Unlock()
	w := push("2")
	counter.mu.Lock()
	cmds := counter.cmds
	counter.on = false
	counter.mu.Unlock()
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "hi") {
		t.Fatalf("push: %d %s", w.Code, w.Body)
	}
	if len(cmds) != 2 {
		t.Errorf("a push sent %d commands on its path, want 2 scripts: %v", len(cmds), cmds)
	}
	// The window was recorded with the claim.
	ok, err := b.Store.TakeWindowSlot(context.Background(), "oRTT", time.Now())
	if err != nil || !ok {
		t.Errorf("no kefu window after a text push: %v %v", ok, err)
	}

	// A person holds the user's conversation: the claim read user.kf, so
	// the push is quiet at the same cost.
	kf := engine.KfState{Account: "mia@kftest", Since: time.Now()}
	if err := b.Store.PatchUser(context.Background(), "oRTT", &store.UserPatch{Set: map[string]any{engine.KfKey: kf.Value()}}); err != nil {
		t.Fatal(err)
	}
	counter.mu.Lock()
	counter.cmds, counter.on = nil, true
	counter.mu.Unlock()
	w = push("3")
	counter.mu.Lock()
	cmds = counter.cmds
	counter.on = false
	counter.mu.Unlock()
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "hi") {
		t.Errorf("a push while a person holds the conversation: %d %s, want no reply", w.Code, w.Body)
	}
	if len(cmds) != 2 {
		t.Errorf("a quiet push sent %d commands on its path, want 2 scripts: %v", len(cmds), cmds)
	}
}
