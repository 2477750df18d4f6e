package cmd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/bolt"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// spoolSend fills the spool file at path, as a bot that stopped while
// Redis failed leaves it: one kefu send of text to openID.
func spoolSend(t *testing.T, path, openID, text string) {
	t.Helper()
	s, err := bolt.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := wechat.KefuFromReply(openID, &wechat.Reply{Type: wechat.ReplyText, Content: text})
	raw, err := outbox.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Enqueue(context.Background(), &outbox.Send{ID: "spooled/" + text, Kind: outbox.KindKefu, OrderKey: openID,
		Rule: "order", Payload: raw, Created: time.Now()})
	if err := errors.Join(err, s.Close()); err != nil {
		t.Fatal(err)
	}
}

// spooled counts the sends left in the spool file at path.
func spooled(t *testing.T, path string) int {
	t.Helper()
	s, err := bolt.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTwoBotsInOneDirectoryOnRedis: a deploy that starts the new bot
// before it stops the old one, on one host and in one directory, starts
// both: the second takes the next spool file (it used to refuse to start,
// the spool being locked). A spool file that no process holds, left with
// sends by a bot that stopped while Redis failed, is moved to Redis by
// the next bot that starts, and its sends are delivered.
func TestTwoBotsInOneDirectoryOnRedis(t *testing.T) {
	rc := needRedis(t)
	defer rc.Close()
	prefix := redisPrefix(t, rc, "spool-slots")
	fake := wechattest.New("wxslots0000000001", "slots-secret")
	defer fake.Close()
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte(faultRules), 0o644)
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxslots0000000001", "WXBOT_SECRET=slots-secret",
		"WXBOT_API_BASE=" + fake.URL, "WXBOT_TOKEN_API=classic"}
	spool := filepath.Join(dir, "wxbot-spool.db")
	start := func(consumer string) *botProc {
		return startBot(t, env, "--rules", rulesPath, "--spool", spool,
			"--store", "redis://127.0.0.1:6379/0?prefix="+prefix+"&consumer="+consumer)
	}

	old := start("old")
	old.waitLog(t, `"spool":"`+spool+`"`)
	next := start("new")
	next.waitLog(t, `"spool":"`+spool+`.1"`)
	for name, b := range map[string]*botProc{"old": old, "new": next} {
		out, errOut, code := wxbot(t, env, "simulate", "--url", b.url, "--from", "oSlots", "text", "hello")
		if code != 0 || !strings.Contains(out, "hello back") {
			t.Errorf("the %s bot: exit %d\n%s%s", name, code, out, errOut)
		}
	}

	// A slot left with a send by a bot that is gone; the two running bots
	// hold the first two. The third bot takes the next free slot and moves
	// the orphan's send to Redis, where one of the three delivers it.
	orphan := spool + ".3"
	spoolSend(t, orphan, "oOrphan", "left behind")
	third := start("third")
	third.waitLog(t, `"spool":"`+spool+`.2"`, "a spool no process holds was moved to the store")
	eventually(t, third, "the orphan's send delivered", func() bool { return len(kefuTexts(fake)) == 1 })
	waitIdle(t, third)
	if got := kefuTexts(fake); strings.Join(got, ",") != "left behind" {
		t.Errorf("delivered %q, want the orphan's send once", got)
	}
	if n := spooled(t, orphan); n != 0 {
		t.Errorf("%d sends left in the drained spool %s", n, orphan)
	}
}
