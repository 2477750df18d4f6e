package store_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// TestReplicasShareOneClassicToken: replicas on the classic token API fetch
// one token between them, and a token error refreshes it once for all.
func TestReplicasShareOneClassicToken(t *testing.T) {
	prefix := fmt.Sprintf("wxbot-test-replicas-%d-%d:", os.Getpid(), time.Now().UnixNano())
	fake := wechattest.New("wxapp", "secret")
	defer fake.Close()
	var clients []*wechat.Client
	for i := 0; i < 3; i++ {
		s := openRedis(t, prefix, nil)
		defer s.Close()
		if i == 0 {
			defer cleanup(t, s)
		}
		c, err := wechat.NewClient(wechat.ClientConfig{Base: fake.URL, AppID: "wxapp", Secret: "secret",
			TokenAPI: wechat.TokenAPIClassic, Tokens: s.TokenCache("wxapp"), HTTP: &http.Client{Timeout: 5 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	send := func(c *wechat.Client) error {
		return c.SendKefu(context.Background(), &wechat.KefuMessage{ToUser: "o", MsgType: "text", Text: &wechat.KefuText{Content: "x"}})
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		for j := 0; j < 5; j++ {
			wg.Add(1)
			go func() { defer wg.Done(); send(c) }()
		}
	}
	wg.Wait()
	if n := fake.TokenFetches(); n != 1 {
		t.Errorf("%d token fetches by 3 replicas, want 1", n)
	}
	fake.ExpireTokens()
	for _, c := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); send(c) }()
	}
	wg.Wait()
	if n := fake.TokenFetches(); n != 2 {
		t.Errorf("%d token fetches after one expiry, want 2", n)
	}
	if n := len(fake.Delivered("/cgi-bin/message/custom/send")); n != 18 {
		t.Errorf("%d sends delivered, want 18", n)
	}
}
