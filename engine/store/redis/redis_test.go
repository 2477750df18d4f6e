package redis_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/redis"
	"github.com/wxbot/wxbot/engine/store/storetest"
)

// redisURL is the machine's Redis (every CI machine has one at this
// address). Tests use a key prefix of their own and delete it after.
const redisURL = "redis://127.0.0.1:6379/0"

// openRedis opens the Redis store under a fresh prefix, skipping the test
// when Redis is unreachable, except under CI=true where that is a failure.
func openRedis(t testing.TB, prefix string, now func() time.Time) *redis.Redis {
	t.Helper()
	s, err := redis.Connect(redisURL+"?consumer=c1&prefix="+prefix, now)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s is required under CI=true: %v", redisURL, err)
		}
		t.Skipf("Redis at %s is not reachable (%v): skipping; start redis-server to run this test", redisURL, err)
	}
	return s
}

// cleanup deletes every key under prefix.
func cleanup(t testing.TB, s *redis.Redis) {
	ctx := context.Background()
	iter := s.Client().Scan(ctx, 0, s.Prefix()+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) > 0 {
		s.Client().Del(ctx, keys...)
	}
}

func TestRedisConformance(t *testing.T) {
	var n int
	prefixOf := map[store.Store]string{}
	open := func(t *testing.T, clock *storetest.Clock, prefix string) store.Store {
		s := openRedis(t, prefix, clock.Now)
		prefixOf[s] = prefix
		t.Cleanup(func() { cleanup(t, s); s.Close() })
		return s
	}
	reopen := func(t *testing.T, s store.Store, clock *storetest.Clock) store.Store {
		p := prefixOf[s]
		r := openRedis(t, p, clock.Now)
		prefixOf[r] = p
		s.Close()
		t.Cleanup(func() { cleanup(t, r); r.Close() })
		return r
	}
	storetest.Run(t, storetest.Opener{
		Open: func(t *testing.T, clock *storetest.Clock) store.Store {
			n++
			return open(t, clock, fmt.Sprintf("wxbot-test-%d-%d-%d:", os.Getpid(), time.Now().UnixNano(), n))
		},
		Reopen:   reopen,
		Crash:    reopen,
		OwnClock: true,
	})
}

// TestRedisAccountConformance: an account's view of a connection (keys
// under PREFIX{APPID}:) behaves as a store of its own, beside another
// account's view that gets the same kind of writes.
func TestRedisAccountConformance(t *testing.T) {
	var n int
	prefixOf := map[store.Store]string{}
	open := func(t *testing.T, clock *storetest.Clock, prefix string) store.Store {
		conn := openRedis(t, prefix, clock.Now)
		other, err := conn.Account("wxother")
		if err != nil {
			t.Fatal(err)
		}
		storetest.WriteOtherAccount(t, other)
		v, err := conn.Account("wxaccount")
		if err != nil {
			t.Fatal(err)
		}
		prefixOf[v] = prefix
		t.Cleanup(func() { cleanup(t, conn); v.Close(); conn.Close() })
		return v
	}
	reopen := func(t *testing.T, s store.Store, clock *storetest.Clock) store.Store {
		return open(t, clock, prefixOf[s])
	}
	storetest.Run(t, storetest.Opener{
		Open: func(t *testing.T, clock *storetest.Clock) store.Store {
			n++
			return open(t, clock, fmt.Sprintf("wxbot-test-acct-%d-%d-%d:", os.Getpid(), time.Now().UnixNano(), n))
		},
		Reopen:   reopen,
		Crash:    reopen,
		OwnClock: true,
	})
}

// TestRedisAccountsIsolated: two accounts on one connection share no key,
// and every key of an account carries its hash tag (one Cluster slot).
func TestRedisAccountsIsolated(t *testing.T) {
	ctx := context.Background()
	prefix := fmt.Sprintf("wxbot-test-iso-%d-%d:", os.Getpid(), time.Now().UnixNano())
	conn := openRedis(t, prefix, nil)
	defer conn.Close()
	defer cleanup(t, conn)
	a, _ := conn.Account("wxa")
	b, err := conn.Account("wxb")
	if err != nil {
		t.Fatal(err)
	}
	a.PatchUser(ctx, "oU", &store.UserPatch{Set: map[string]any{"step": "a"}})
	a.Enqueue(ctx, &outbox.Send{ID: "s1", Kind: "kefu", OrderKey: "oU"})
	if ok, _ := a.TakeCooldown(ctx, "k", time.Hour); !ok {
		t.Fatal("a's first cooldown refused")
	}
	for name, s := range map[string]*redis.Redis{"b": b, "the connection's own keys": conn} {
		if st, _ := s.LoadUser(ctx, "oU"); st != nil {
			t.Errorf("%s sees a's state %v", name, st)
		}
		if n, _ := s.Pending(ctx); n != 0 {
			t.Errorf("%s sees %d of a's sends", name, n)
		}
		if ok, _ := s.TakeCooldown(ctx, "k", time.Hour); !ok {
			t.Errorf("%s shares a's cooldown", name)
		}
	}
	keys, _ := conn.Client().Keys(ctx, prefix+"{wxa}:*").Result()
	if len(keys) == 0 {
		t.Fatal("no key of a under its hash tag")
	}
	all, _ := conn.Client().Keys(ctx, prefix+"*wxa*").Result()
	if len(all) != len(keys) {
		t.Errorf("keys of a outside its hash tag: %v", all)
	}
}

// TestRedisTakeover: sends owned by a consumer that died are taken over by
// another after ClaimIdle, and delivered once. The idle time is Redis's
// own, so the store's clock cannot move it: ClaimIdle is an hour, far more
// than any stall of the test, and the hour passing is simulated by setting
// the entries' idle time in Redis (XCLAIM ... IDLE), so that no step
// depends on how fast the scheduler is.
func TestRedisTakeover(t *testing.T) {
	prefix := fmt.Sprintf("wxbot-test-takeover-%d-%d:", os.Getpid(), time.Now().UnixNano())
	a := openRedis(t, prefix, nil)
	defer a.Close()
	defer cleanup(t, a)
	b, err := redis.Connect(redisURL+"?consumer=c2&prefix="+prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.ClaimIdle, b.ClaimIdle = time.Hour, time.Hour
	ctx := context.Background()
	if err := a.Enqueue(ctx, &outbox.Send{ID: "t1", Kind: outbox.KindKefu, OrderKey: "U"},
		&outbox.Send{ID: "t2", Kind: outbox.KindKefu, OrderKey: "U"}); err != nil {
		t.Fatal(err)
	}
	got, err := a.Due(ctx, time.Now(), 10, nil)
	if err != nil || len(got) != 1 || got[0].ID != "t1" {
		t.Fatalf("a took %v, %v", got, err)
	}
	// a dies here holding t1 (and t2, which waits behind it).
	if got, _ := b.Due(ctx, time.Now(), 10, nil); len(got) != 0 {
		t.Fatalf("b took %v while a's claim was fresh", got)
	}
	// An hour and a minute pass for a's entries (and a does not come back).
	stream := prefix + "outbox"
	pend, err := a.Client().XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: "wxbot",
		Consumer: "c1", Start: "-", End: "+", Count: 10}).Result()
	if err != nil || len(pend) != 2 {
		t.Fatalf("a holds %d entries (%v), want 2", len(pend), err)
	}
	args := []any{"XCLAIM", stream, "wxbot", "c1", 0}
	for _, p := range pend {
		args = append(args, p.ID)
	}
	args = append(args, "IDLE", (time.Hour + time.Minute).Milliseconds(), "JUSTID")
	if err := a.Client().Do(ctx, args...).Err(); err != nil {
		t.Fatal(err)
	}
	got, err = b.Due(ctx, time.Now(), 10, nil)
	if err != nil || len(got) != 1 || got[0].ID != "t1" {
		t.Fatalf("after a's claim went idle b took %v, %v; want t1", got, err)
	}
	if err := b.Done(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	got, _ = b.Due(ctx, time.Now(), 10, nil)
	if len(got) != 1 || got[0].ID != "t2" {
		t.Fatalf("then %v, want t2", got)
	}
	b.Done(ctx, got[0])
	if n, _ := b.Pending(ctx); n != 0 {
		t.Errorf("%d pending at the end", n)
	}
}

func TestRedisDedupAcrossReplicas(t *testing.T) {
	prefix := fmt.Sprintf("wxbot-test-dedup-%d-%d:", os.Getpid(), time.Now().UnixNano())
	// The replicas share a clock, which only the test goroutine moves.
	clock := &storetest.Clock{T: time.Now()}
	a := openRedis(t, prefix, clock.Now)
	defer a.Close()
	defer cleanup(t, a)
	b := openRedis(t, prefix, clock.Now)
	defer b.Close()
	da, db := redis.NewDedup(a, time.Minute), redis.NewDedup(b, time.Minute)
	ctx := context.Background()
	first, isFirst, err := da.Claim(ctx, "gh/m/1")
	if err != nil || !isFirst {
		t.Fatalf("first claim: %v %v", isFirst, err)
	}
	retry, isFirst, err := db.Claim(ctx, "gh/m/1")
	if err != nil || isFirst {
		t.Fatalf("the retry on the other replica claimed it too: %v %v", isFirst, err)
	}
	got := make(chan string, 1)
	go func() {
		ct, body, err := retry.Wait(ctx)
		got <- fmt.Sprint(ct, "|", string(body), "|", err)
	}()
	time.Sleep(30 * time.Millisecond)
	first.Finish("application/xml", []byte("<xml>same\nbytes</xml>"))
	if g := <-got; g != "application/xml|<xml>same\nbytes</xml>|<nil>" {
		t.Errorf("retry got %q", g)
	}

	// A claimer that died: its pending mark goes stale and another takes
	// over (staleness is judged on the store's clock, not Redis's).
	if _, isFirst, err := da.Claim(ctx, "gh/m/2"); err != nil || !isFirst {
		t.Fatalf("claim: %v %v", isFirst, err)
	}
	clock.T = clock.T.Add(db.Stale - time.Millisecond)
	if _, isFirst, _ := db.Claim(ctx, "gh/m/2"); isFirst {
		t.Error("a fresh pending mark was taken over")
	}
	clock.T = clock.T.Add(time.Millisecond)
	if _, isFirst, _ := db.Claim(ctx, "gh/m/2"); !isFirst {
		t.Error("a stale pending mark was not taken over")
	}
}

func TestRedisTokens(t *testing.T) {
	prefix := fmt.Sprintf("wxbot-test-token-%d-%d:", os.Getpid(), time.Now().UnixNano())
	s := openRedis(t, prefix, nil)
	defer s.Close()
	defer cleanup(t, s)
	ctx := context.Background()
	tc := s.TokenCache("wxapp")
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	tc.Set(ctx, "T1", exp)
	if tok, e, _ := tc.Get(ctx); tok != "T1" || !e.Equal(exp) {
		t.Errorf("get %q %v", tok, e)
	}
	tc.Invalidate(ctx, "T0") // not the current one: kept
	if tok, _, _ := tc.Get(ctx); tok != "T1" {
		t.Error("invalidating an older token dropped the current one")
	}
	tc.Invalidate(ctx, "T1")
	if tok, _, _ := tc.Get(ctx); tok != "" {
		t.Error("the bad token was kept")
	}
	release, ok, err := tc.LockRefresh(ctx, time.Second)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, ok2, _ := s.TokenCache("wxapp").LockRefresh(ctx, time.Second); ok2 {
		t.Error("two holders of the refresh lock")
	}
	release()
	if _, ok3, _ := tc.LockRefresh(ctx, time.Second); !ok3 {
		t.Error("the lock was not released")
	}
}

// TestRedisMalformedEntry: a stream entry that is not a send (no send
// field, a send that is not JSON, no user sequence number) is acked and
// dead-lettered with its reason, once, instead of staying pending (read by
// every Due and taken over by every replica in turn); the others are served.
func TestRedisMalformedEntry(t *testing.T) {
	prefix := fmt.Sprintf("wxbot-test-malformed-%d-%d:", os.Getpid(), time.Now().UnixNano())
	clock := &storetest.Clock{T: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	s := openRedis(t, prefix, clock.Now)
	defer s.Close()
	defer cleanup(t, s)
	ctx := context.Background()
	rdb, stream := s.Client(), prefix+"outbox"
	xadd := func(values ...any) {
		t.Helper()
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// One read as pending on the next Due ("0"), the others new (">").
	xadd("send", "{not json", "useq", "1")
	if _, err := s.Due(ctx, clock.T, 10, nil); err != nil {
		t.Fatalf("Due with a malformed entry: %v", err)
	}
	xadd("foo", "bar")
	if err := s.Enqueue(ctx, &outbox.Send{ID: "a1", Kind: outbox.KindKefu, OrderKey: "A"}); err != nil {
		t.Fatal(err)
	}
	xadd("send", `{"id":"z1","kind":"kefu","openid":"Z"}`, "useq", "x")
	for i := 0; i < 2; i++ {
		due, err := s.Due(ctx, clock.T, 10, nil)
		if err != nil {
			t.Fatalf("Due with malformed entries: %v", err)
		}
		if len(due) != 1 || due[0].ID != "a1" {
			t.Fatalf("Due with malformed entries served %d sends, want a1", len(due))
		}
	}
	dl, err := s.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"useq field", "no send field", "send field: invalid character"}
	if len(dl) != len(want) {
		t.Fatalf("%d dead letters, want the %d malformed entries once each: %+v", len(dl), len(want), dl)
	}
	for i, d := range dl {
		if !strings.HasPrefix(d.Reason, "corrupt outbox entry ") || !strings.Contains(d.Reason, want[i]) || !d.At.Equal(clock.T) {
			t.Errorf("dead letter %d: %q at %v, want \"corrupt outbox entry ID: %s...\" at the clock's time", i, d.Reason, d.At, want[i])
		}
	}
	if dl[0].Send == nil || dl[0].Send.ID != "z1" {
		t.Errorf("the dead letter of a decodable send lost it: %+v", dl[0].Send)
	}
	if n, _ := s.Pending(ctx); n != 1 {
		t.Errorf("%d entries in the stream, want 1 (a1)", n)
	}
	if p, err := rdb.XPending(ctx, stream, "wxbot").Result(); err != nil || p.Count != 1 {
		t.Errorf("pending in the group: %+v, %v; want a1 only", p, err)
	}
}

// TestRedisNoGroupRecovery: when the outbox stream or its consumer group is
// deleted under a running store (DEL, FLUSHDB, XGROUP DESTROY), the next
// Due makes the group again and the outbox keeps working, without an error.
func TestRedisNoGroupRecovery(t *testing.T) {
	for _, tc := range []struct {
		name   string
		delete func(ctx context.Context, s *redis.Redis) error
	}{
		{"DEL stream", func(ctx context.Context, s *redis.Redis) error {
			return s.Client().Del(ctx, s.Prefix()+"outbox").Err()
		}},
		{"all keys", func(ctx context.Context, s *redis.Redis) error {
			cleanup(t, s) // FLUSHDB, but of this test's keys only
			return nil
		}},
		{"XGROUP DESTROY", func(ctx context.Context, s *redis.Redis) error {
			return s.Client().XGroupDestroy(ctx, s.Prefix()+"outbox", "wxbot").Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := fmt.Sprintf("wxbot-test-nogroup-%d-%d:", os.Getpid(), time.Now().UnixNano())
			s := openRedis(t, prefix, nil)
			defer s.Close()
			defer cleanup(t, s)
			ctx := context.Background()
			due := func(want string) {
				t.Helper()
				got, err := s.Due(ctx, time.Now(), 10, nil)
				if err != nil {
					t.Fatalf("Due: %v", err)
				}
				if len(got) != 1 || got[0].ID != want {
					t.Fatalf("Due: %d sends, want %s", len(got), want)
				}
				if err := s.Done(ctx, got[0]); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Enqueue(ctx, &outbox.Send{ID: "a1", Kind: outbox.KindKefu, OrderKey: "A"}); err != nil {
				t.Fatal(err)
			}
			due("a1")
			if err := tc.delete(ctx, s); err != nil {
				t.Fatal(err)
			}
			if err := s.Enqueue(ctx, &outbox.Send{ID: "b1", Kind: outbox.KindKefu, OrderKey: "B"}); err != nil {
				t.Fatal(err)
			}
			due("b1") // the first Due after the loss, not a later one
			if err := s.Enqueue(ctx, &outbox.Send{ID: "b2", Kind: outbox.KindKefu, OrderKey: "B"},
				&outbox.Send{ID: "a2", Kind: outbox.KindKefu, OrderKey: "A"}); err != nil {
				t.Fatal(err)
			}
			got, err := s.Due(ctx, time.Now(), 10, nil)
			if err != nil || len(got) != 2 {
				t.Fatalf("then Due: %d sends, %v; want b2 and a2", len(got), err)
			}
			if n, _ := s.Pending(ctx); n != 2 {
				t.Errorf("%d pending, want 2", n)
			}
		})
	}
}

// TestRedisClaimIdle: the claim_idle parameter of a redis:// URL is a Go
// duration of at least 1s; anything else is refused, naming the value.
func TestRedisClaimIdle(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"1s", time.Second},
		{"1000ms", time.Second},
		{"1.5s", 1500 * time.Millisecond},
		{"90s", 90 * time.Second},
		{"2m", 2 * time.Minute},
		{"1h30m", 90 * time.Minute},
	} {
		got, err := redis.ParseClaimIdle(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("claim_idle=%s: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "0", "0s", "999ms", "-1m", "60", "1 m", "1min", "abc"} {
		want := fmt.Sprintf("claim_idle=%q: want a duration of at least 1s, e.g. claim_idle=1m", in)
		if d, err := redis.ParseClaimIdle(in); err == nil || err.Error() != want {
			t.Errorf("claim_idle=%s: %v, %v; want the error %q", in, d, err, want)
		}
		// Connect refuses it before connecting (no Redis needed).
		raw := redisURL + "?claim_idle=" + url.QueryEscape(in)
		want = fmt.Sprintf("store URL %q: %s", raw, want)
		if s, err := redis.Connect(raw, nil); err == nil || err.Error() != want {
			if s != nil {
				s.Close()
			}
			t.Errorf("Connect(%q): %v; want the error %q", raw, err, want)
		}
	}
	// An accepted value reaches the store, and the default is a minute.
	prefix := fmt.Sprintf("wxbot-test-claimidle-%d-%d:", os.Getpid(), time.Now().UnixNano())
	s := openRedis(t, prefix+"&claim_idle=90s", nil)
	defer s.Close()
	defer cleanup(t, s)
	if s.ClaimIdle != 90*time.Second {
		t.Errorf("claim_idle=90s: ClaimIdle %v", s.ClaimIdle)
	}
	d := openRedis(t, prefix, nil)
	defer d.Close()
	if d.ClaimIdle != time.Minute {
		t.Errorf("default ClaimIdle %v, want 1m", d.ClaimIdle)
	}
}

// TestStoreURLErrorsHideThePassword: a Redis password in --store never
// reaches an error (which goes to the log and the terminal).
func TestStoreURLErrorsHideThePassword(t *testing.T) {
	for _, raw := range []string{
		"redis://user:s3cret@127.0.0.1:6379/0?claim_idle=bad",
		"redis://:s3cret@127.0.0.1:6379/notanumber",
		"redis://:s3cret@[::1",
		"redis://user:s3cret@127.0.0.1:99999/0",
		"mysql://root:s3cret@db/x",
	} {
		_, err := store.Open(raw, store.Options{})
		if err == nil {
			t.Errorf("%s: opened", raw)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// TestDedupAnswersWrittenBehind: answers are written off the push's path;
// Close writes every one still queued, and an answer finished after Close
// is written at once. Another replica reads each.
func TestDedupAnswersWrittenBehind(t *testing.T) {
	prefix := fmt.Sprintf("wxbot-test-behind-%d-%d:", os.Getpid(), time.Now().UnixNano())
	s := openRedis(t, prefix, nil)
	defer s.Close()
	defer cleanup(t, s)
	ctx := context.Background()
	d := redis.NewDedup(s, time.Minute)
	for i := range 300 {
		a, first, err := d.Claim(ctx, fmt.Sprint("push-", i))
		if err != nil || !first {
			t.Fatalf("claim %d: %v %v", i, first, err)
		}
		a.Finish("text/plain", []byte(fmt.Sprint("answer ", i)))
	}
	d.Close()
	d.Close() // twice is harmless
	late, _, _ := d.Claim(ctx, "push-late")
	late.Finish("text/plain", []byte("late answer"))
	other := redis.NewDedup(s, time.Minute)
	for _, i := range []string{"0", "150", "299", "late"} {
		a, first, err := other.Claim(ctx, "push-"+i)
		if err != nil || first {
			t.Fatalf("push-%s: a second claim was first (%v) or failed: %v", i, first, err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second) // nothing writes after Close: a missing answer times out
		_, body, err := a.Wait(wctx)
		cancel()
		if want := "answer " + i; i != "late" && string(body) != want || i == "late" && string(body) != "late answer" {
			t.Errorf("push-%s: %q %v", i, body, err)
		}
	}
}
