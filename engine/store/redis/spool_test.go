package redis_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/bolt"
	"github.com/wxbot/wxbot/engine/store/redis"
)

// lockedLog is a log that the test reads while the store writes it; each
// write wakes those waiting for a line.
type lockedLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // closed and replaced at each write
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wrote != nil {
		close(l.wrote)
		l.wrote = nil
	}
	return l.buf.Write(p)
}

// waitFor waits until the log holds s, or the hung-test bound passes.
func (l *lockedLog) waitFor(t *testing.T, s string) {
	t.Helper()
	bound := time.After(30 * time.Second) // a hung test's bound, not a speed requirement
	for {
		l.mu.Lock()
		if strings.Contains(l.buf.String(), s) {
			l.mu.Unlock()
			return
		}
		if l.wrote == nil {
			l.wrote = make(chan struct{})
		}
		wrote := l.wrote
		l.mu.Unlock()
		select {
		case <-wrote:
		case <-bound:
			t.Fatalf("the log never said %q:\n%s", s, l.String())
		}
	}
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// spoolPrefix is a fresh key prefix on the machine's Redis, skipping the
// test without one; its keys are deleted when the test ends.
func spoolPrefix(t *testing.T, name string) (string, *redis.Redis) {
	t.Helper()
	prefix := fmt.Sprintf("wxbot-test-%s-%d-%d:", name, os.Getpid(), time.Now().UnixNano())
	conn := openRedis(t, prefix, nil)
	t.Cleanup(func() { cleanup(t, conn); conn.Close() })
	return prefix, conn
}

// TestSpoolSlots: bots that share a --spool path (started in one
// directory) each take the first spool file no other holds, PATH, then
// PATH.1 …; past the last slot the error names the files; a slot given up
// is taken again.
func TestSpoolSlots(t *testing.T) {
	prefix, _ := spoolPrefix(t, "slots")
	path := filepath.Join(t.TempDir(), "wxbot-spool.db")
	open := func(i int) (*store.Backend, error) {
		return redis.Open(fmt.Sprintf("%s?prefix=%s&consumer=c%d", redisURL, prefix, i), store.Options{Spool: path}.WithDefaults())
	}
	var bots []*store.Backend
	t.Cleanup(func() {
		for _, b := range bots {
			b.Close()
		}
	})
	for i := range 16 {
		b, err := open(i)
		if err != nil {
			t.Fatalf("bot %d: %v", i+1, err)
		}
		bots = append(bots, b)
		want := path
		if i > 0 {
			want = fmt.Sprintf("%s.%d", path, i)
		}
		if _, err := os.Stat(want); err != nil {
			t.Fatalf("bot %d did not take %s: %v", i+1, want, err)
		}
	}
	_, err := open(16)
	if err == nil {
		t.Fatal("a 17th bot started; want every slot held")
	}
	for _, want := range []string{"--spool", path + " and", path + ".15", "held by other processes", "give this bot a --spool of its own"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	bots[5].Close()
	b, err := open(17)
	if err != nil {
		t.Fatalf("a bot after slot 5 was given up: %v", err)
	}
	bots[5] = b
}

// spoolSends fills the spool file at path as a bot that stopped while
// Redis failed leaves it: a send per AppID ("" for the file's top level).
func spoolSends(t *testing.T, path string, appIDs ...string) {
	t.Helper()
	s, err := bolt.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range appIDs {
		part := s
		if id != "" {
			if part, err = s.Account(id); err != nil {
				t.Fatal(err)
			}
		}
		err := part.Enqueue(context.Background(), &outbox.Send{ID: "spooled/" + id + "/" + filepath.Base(path), Kind: outbox.KindKefu,
			OrderKey: "oU", Payload: []byte(`{}`), Created: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// pendingIn counts the sends in the spool file at path, per AppID.
func pendingIn(t *testing.T, path string, appIDs ...string) []int {
	t.Helper()
	s, err := bolt.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []int
	for _, id := range appIDs {
		part := s
		if id != "" {
			if part, err = s.Account(id); err != nil {
				t.Fatal(err)
			}
		}
		n, _ := part.Pending(context.Background())
		out = append(out, n)
	}
	return out
}

// TestOrphanSpoolDrained: a spool file no process holds, left with sends
// of the file's top level and of an account, is moved to Redis by the
// next bot that starts on the path (each send to its own keys) and left
// empty; one that a live process holds is left to it.
func TestOrphanSpoolDrained(t *testing.T) {
	prefix, conn := spoolPrefix(t, "orphan")
	path := filepath.Join(t.TempDir(), "wxbot-spool.db")
	orphan, live := path+".2", path+".1"
	spoolSends(t, orphan, "", "wxorphan")
	spoolSends(t, live, "")
	holder, err := bolt.OpenFile(live, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()

	var logs lockedLog
	o := store.Options{Spool: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))}.WithDefaults()
	b, err := redis.Open(redisURL+"?prefix="+prefix, o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	acct, err := conn.Account("wxorphan")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	logs.waitFor(t, "a spool no process holds was moved to the store")
	top, _ := conn.Pending(ctx)
	inAcct, _ := acct.Pending(ctx)
	if top != 1 || inAcct != 1 {
		t.Errorf("Redis has %d sends at the top level and %d of the account, want the orphan's one each", top, inAcct)
	}
	if got := pendingIn(t, orphan, "", "wxorphan"); got[0]+got[1] != 0 {
		t.Errorf("the drained spool still has %v sends", got)
	}
	if n, _ := holder.Pending(ctx); n != 1 {
		t.Errorf("the live process's spool has %d sends, want its own 1 left to it", n)
	}
	if !strings.Contains(logs.String(), "spool="+path+"\n") {
		t.Errorf("the log does not say which spool file was taken:\n%s", logs.String())
	}
}
