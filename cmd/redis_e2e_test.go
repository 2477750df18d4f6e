package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

const replicaRules = `version: 1
rules:
  - name: order
    on: text
    text: order
    actions:
      - reply: {text: "order ${event.msg_id} received"}
      - kefu: {text: "k1 ${event.msg_id}"}
      - kefu: {text: "k2 ${event.msg_id}"}
`

// needRedis skips when the machine's Redis is unreachable (a newcomer's
// laptop), and fails under CI=true, where Redis is part of the machine.
func needRedis(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DialTimeout: time.Second})
	if err := c.Ping(context.Background()).Err(); err != nil {
		c.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at 127.0.0.1:6379 is required under CI=true: %v", err)
		}
		t.Skipf("Redis at 127.0.0.1:6379 is not reachable (%v): skipping the replica test", err)
	}
	return c
}

// redisPrefix is a key prefix of the test's own on the machine's Redis;
// the test's keys are deleted when it ends.
func redisPrefix(t *testing.T, rc *redis.Client, name string) string {
	t.Helper()
	prefix := fmt.Sprintf("wxbot-%s-%d-%d:", name, os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := rc.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
	})
	return prefix
}

func kefuTexts(fake *wechattest.Server) []string {
	var out []string
	for _, c := range fake.Delivered("/cgi-bin/message/custom/send") {
		var m struct{ Text struct{ Content string } }
		json.Unmarshal(c.Body, &m)
		out = append(out, m.Text.Content)
	}
	return out
}

// TestTwoReplicasOnRedis: two `wxbot serve` on one Redis behave like one
// bot: a retry on the other replica gets the same answer and the rules run
// once; a replica killed while holding kefu sends has them delivered by the
// other, exactly once and in order.
func TestTwoReplicasOnRedis(t *testing.T) {
	rc := needRedis(t)
	defer rc.Close()
	prefix := redisPrefix(t, rc, "e2e")
	fake := wechattest.New("wxreplica00000001", "replica-secret")
	defer fake.Close()
	fake.FailUntilCleared("/cgi-bin/message/custom/send", -1)

	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte(replicaRules), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxreplica00000001", "WXBOT_SECRET=replica-secret",
		"WXBOT_API_BASE=" + fake.URL, "WXBOT_TOKEN_API=classic"}
	storeURL := func(consumer string) string {
		return "redis://127.0.0.1:6379/0?claim_idle=2s&prefix=" + prefix + "&consumer=" + consumer
	}

	// Replica A takes a push whose kefu sends fail, then dies holding them.
	a := startBot(t, env, "--rules", rulesPath, "--store", storeURL("a"))
	out, errOut, code := wxbot(t, env, "simulate", "--url", a.url, "--from", "oKill", "--msg-id", "1001", "text", "order")
	if code != 0 || !strings.Contains(out, "order 1001 received") {
		t.Fatalf("push to A: %d %s %s", code, out, errOut)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(fake.Calls("/cgi-bin/message/custom/send")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("A never attempted a send:\n%s", a.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.cmd.Process.Kill()
	a.waitExit(t)
	fake.ClearFailures()

	// Replica B takes them over (after claim_idle for those A held).
	b := startBot(t, env, "--rules", rulesPath, "--store", storeURL("b"))
	deadline = time.Now().Add(30 * time.Second)
	for len(kefuTexts(fake)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("B delivered %v of A's sends:\n%s", kefuTexts(fake), b.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A's sends that A delivered but never acknowledged stay pending until
	// B takes them over after claim_idle: an idle queue has none left.
	waitIdle(t, b)
	if got := kefuTexts(fake); strings.Join(got, ",") != "k1 1001,k2 1001" {
		t.Errorf("delivered %q, want A's two sends once each, in order", got)
	}

	// A second replica C next to B: a push to B and its retry to C.
	c := startBot(t, env, "--rules", rulesPath, "--store", storeURL("c"))
	first, _, _ := wxbot(t, env, "simulate", "--url", b.url, "--from", "oRetry", "--msg-id", "2002", "text", "order")
	again, _, _ := wxbot(t, env, "simulate", "--url", c.url, "--from", "oRetry", "--msg-id", "2002", "text", "order")
	if first != again || !strings.Contains(first, "order 2002 received") {
		t.Errorf("the retry on the other replica answered differently:\n%s\n---\n%s", first, again)
	}
	if !strings.Contains(c.stderr.String(), "retry answered from the first copy") {
		t.Errorf("C ran the rules for a retry:\n%s", c.stderr.String())
	}
	deadline = time.Now().Add(15 * time.Second)
	for len(kefuTexts(fake)) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("sends of the retried push: %v", kefuTexts(fake))
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitIdle(t, b)
	if got := kefuTexts(fake); len(got) != 4 {
		t.Errorf("delivered %q: the retried push's sends must go out once", got)
	}
}
