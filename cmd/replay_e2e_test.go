package cmd

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

// TestReplayRefusedAfterRestart: a signed query string captured before a
// restart is still known after it, on bolt: as on Redis. The same URL
// with a forged body is refused with 401, and with its own body it is
// WeChat's retry, answered with the first reply's bytes.
func TestReplayRefusedAfterRestart(t *testing.T) {
	examples, _ := filepath.Abs("../examples/rules.yaml")
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) string
	}{
		{"bolt", func(t *testing.T) string { return "bolt:" + filepath.Join(t.TempDir(), "wxbot.db") }},
		{"redis", func(t *testing.T) string {
			rc := needRedis(t)
			t.Cleanup(func() { rc.Close() })
			return "redis://127.0.0.1:6379/0?prefix=" + redisPrefix(t, rc, "replay")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storeURL := tc.store(t)
			b := startBot(t, env, "--rules", examples, "--store", storeURL)
			m := &wechat.Message{ToUserName: "gh_e2e", FromUserName: "oReplay", CreateTime: time.Now().Unix(),
				MsgType: "text", Content: "价格", MsgID: strconv.FormatInt(time.Now().UnixNano(), 10)}
			req, err := SignedPush(context.Background(), b.url, e2eToken, nil, m)
			if err != nil {
				t.Fatal(err)
			}
			captured, pushed := req.URL.RawQuery, wechat.EncodeMessage(m)
			status, first := postPush(t, b.url, captured, pushed)
			if status != http.StatusOK {
				t.Fatalf("the push: %d %s", status, first)
			}
			b.cmd.Process.Signal(os.Interrupt)
			b.waitExit(t)

			b = startBot(t, env, "--rules", examples, "--store", storeURL)
			forged := *m // another message, which the rules would run for
			forged.Content, forged.MsgID = "转人工", m.MsgID+"1"
			if status, body := postPush(t, b.url, captured, wechat.EncodeMessage(&forged)); status != http.StatusUnauthorized {
				t.Errorf("the captured query string with a forged body after the restart: %d %s, want 401", status, body)
			}
			if status, again := postPush(t, b.url, captured, pushed); status != http.StatusOK || !bytes.Equal(again, first) {
				t.Errorf("the push again after the restart: %d\n%s\nwant 200 and the first reply\n%s", status, again, first)
			}
		})
	}
}

// postPush posts body to the bot at target with the signed query string
// query, as WeChat (or whoever captured the query string) would.
func postPush(t *testing.T, target, query string, body []byte) (int, []byte) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = query
	resp, err := e2eHTTP.Post(u.String(), "text/xml", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, reply
}
