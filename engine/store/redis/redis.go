package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
)

// Redis is the store replicas share. The outbox is a Redis stream read by a
// consumer group: each replica is a consumer, a send is owned by the
// consumer that read it, and the sends of a replica that dies are taken
// over by another after ClaimIdle (XAUTOCLAIM). Per-user order comes from a
// per-user sequence number and a per-user cursor: a send is delivered only
// when every earlier send of its user is done or dead.
//
// Expiry is decided with the caller's clock (values carry their end time),
// and Redis TTLs only collect garbage, so tests can move time.
type Redis struct {
	rdb    goredis.UniversalClient
	prefix string
	// base is the prefix an account's view adds its hash tag to: on a
	// cluster the connection's own keys carry one too ({default}), and a
	// key's slot follows its first tag.
	base     string
	consumer string
	now      func() time.Time
	// ClaimIdle is how long a send may sit unacknowledged with a consumer
	// before another takes it over. It must exceed the longest delivery.
	ClaimIdle time.Duration
	view      bool // an account's view (Account): the connection is not its to close
	// ap runs the scripts on every push's path (hot.go); nil: the client.
	ap *goredis.AutoPipeliner
}

const redisGroup = "wxbot"

// Connect connects to redis://HOST:PORT/DB[?prefix=P&consumer=C&claim_idle=D]. Keys
// start with P (default "wxbot:"), so several bots can share a server. C
// names this replica in the outbox's consumer group (default host-pid); a
// replica that restarts under the same name resumes its sends at once,
// under a new name they are taken over after ClaimIdle (D, default 1m).
func Connect(rawURL string, now func() time.Time) (*Redis, error) {
	if now == nil {
		now = time.Now
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password and all
		}
		return nil, fmt.Errorf("store URL %s: %w", store.Redacted(rawURL), err)
	}
	q := u.Query()
	s := &Redis{base: "wxbot:", now: now, ClaimIdle: time.Minute}
	if q.Has("prefix") {
		s.base = q.Get("prefix")
		q.Del("prefix")
	}
	host, _ := os.Hostname()
	s.consumer = fmt.Sprintf("%s-%d", host, os.Getpid())
	if q.Has("consumer") {
		s.consumer = q.Get("consumer")
		q.Del("consumer")
	}
	if q.Has("claim_idle") {
		d, err := parseClaimIdle(q.Get("claim_idle"))
		if err != nil {
			return nil, fmt.Errorf("store URL %s: %w", store.Redacted(rawURL), err)
		}
		s.ClaimIdle = d
		q.Del("claim_idle")
	}
	s.prefix = s.base
	var addr string
	if u.Scheme == "redis-cluster" {
		s.prefix = s.base + "{default}:"
		addr, err = s.dialCluster(u, q)
	} else {
		addr, err = s.dial(u, q)
	}
	if err != nil {
		return nil, fmt.Errorf("store URL %s: %w", store.Redacted(rawURL), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		s.rdb.Close()
		return nil, fmt.Errorf("connecting to Redis at %s: %w", addr, err)
	}
	if err := s.ensureGroup(ctx); err != nil {
		s.rdb.Close()
		return nil, err
	}
	s.startHot()
	return s, nil
}

// dial connects to one Redis (redis://HOST:PORT/DB).
func (s *Redis) dial(u *url.URL, q url.Values) (string, error) {
	u.RawQuery = q.Encode()
	opt, err := goredis.ParseURL(u.String())
	if err != nil {
		return "", err
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	// A caller's deadline (a push's budget, see Guard) cuts a call short.
	opt.ContextTimeoutEnabled = true
	s.rdb = goredis.NewClient(opt)
	return opt.Addr, nil
}

// dialCluster connects to a Redis Cluster
// (redis-cluster://[USER:PASSWORD@]HOST:PORT?addr=HOST2:PORT2&addr=…).
// Every key of an account is under one hash tag, so a script or a
// transaction never spans two slots.
func (s *Redis) dialCluster(u *url.URL, q url.Values) (string, error) {
	addrs := append([]string{u.Host}, q["addr"]...)
	q.Del("addr")
	if len(q) > 0 {
		return "", fmt.Errorf("unknown parameters %v: a redis-cluster:// URL takes addr, prefix, consumer and claim_idle", slices.Sorted(maps.Keys(q)))
	}
	if u.Host == "" {
		return "", fmt.Errorf("want redis-cluster://HOST:PORT?addr=HOST2:PORT2&addr=HOST3:PORT3")
	}
	opt := &goredis.ClusterOptions{Addrs: addrs, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second,
		WriteTimeout: 2 * time.Second, ContextTimeoutEnabled: true}
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
	}
	s.rdb = goredis.NewClusterClient(opt)
	return strings.Join(addrs, ","), nil
}

// parseClaimIdle parses the claim_idle query parameter: a Go duration of
// at least a second (less would take sends from live consumers mid-delivery).
func parseClaimIdle(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("claim_idle=%q: want a duration of at least 1s, e.g. claim_idle=1m", v)
	}
	return d, nil
}

func (s *Redis) ensureGroup(ctx context.Context) error {
	err := s.rdb.XGroupCreateMkStream(ctx, s.k("outbox"), redisGroup, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("creating the outbox consumer group: %w", err)
	}
	return nil
}

func (s *Redis) k(parts ...string) string { return s.prefix + strings.Join(parts, ":") }

// Client is the underlying connection (for the token cache and dedup).
func (s *Redis) Client() goredis.UniversalClient { return s.rdb }

// Prefix is the key prefix.
func (s *Redis) Prefix() string { return s.prefix }

func ms(t time.Time) int64 { return t.UnixMilli() }

// takeUntil sets KEYS[1] to ARGV[1] (an end time in ms) unless it holds a
// later end than ARGV[2] (now); ARGV[3] is a TTL in ms for collection.
var takeUntil = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1`)

func (s *Redis) take(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	now := s.now()
	r, err := takeUntil.Run(ctx, s.rdb, []string{key}, ms(now.Add(ttl)), ms(now), max(ttl.Milliseconds(), 1)).Int()
	return r == 1, err
}

// TakeCooldown implements store.Store.
func (s *Redis) TakeCooldown(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return s.take(ctx, s.k("cd", key), ttl)
}

// takeLimit counts a firing in KEYS[1], one window's counter, and makes it
// expire with the window (ARGV[1], ms): one round trip, shared by replicas.
var takeLimit = goredis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// TakeLimit implements store.Store.
func (s *Redis) TakeLimit(ctx context.Context, key string, count int, per time.Duration) (bool, error) {
	now := s.now()
	n, end := store.LimitWindow(now, per)
	ttl := max(end.Sub(now).Milliseconds(), 1) + 1000 // a second's grace for replicas' clocks
	got, err := takeLimit.Run(ctx, s.rdb, []string{s.k("lim", store.LimitKey(key, n))}, ttl).Int64()
	return err == nil && got <= int64(count), err
}

// ClaimOnce implements store.Store.
func (s *Redis) ClaimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return s.take(ctx, s.k("once", key), ttl)
}

// openWindow applies store.MergeWindow in Redis: KEYS[1] is the user's
// window hash; ARGV until (ms), now (ms).
var openWindow = goredis.NewScript(`
local u = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
local nu, now = tonumber(ARGV[1]), tonumber(ARGV[2])
if now >= u or nu > u then
  redis.call('HSET', KEYS[1], 'until', nu)
  redis.call('PEXPIRE', KEYS[1], nu - now + 60000)
end
return 1`)

// closeWindow ends a window until the next opening, and records a closed
// one for a user without a window: KEYS[1] the window; ARGV now (ms), how
// long to keep a recorded one (ms).
var closeWindow = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'until', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
local u = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
redis.call('HSET', KEYS[1], 'until', math.min(u, tonumber(ARGV[1])))
return 1`)

// closedWindowMemory is how long a window WeChat closed for a user the
// store did not know stays known, so that their next sends are refused
// without an API call: as long as any window opened before the refusal
// could have lasted. A window of the store's own is kept a minute past
// its end (openWindow); either way the user's window is unknown after,
// and a send to them is attempted (store.WindowKnower).
const closedWindowMemory = 48 * time.Hour

// OpenWindow implements store.Store.
func (s *Redis) OpenWindow(ctx context.Context, openID string, until time.Time) error {
	return openWindow.Run(ctx, s.rdb, []string{s.k("win", openID)}, ms(until), ms(s.now())).Err()
}

// TakeWindowSlot implements store.Store.
func (s *Redis) TakeWindowSlot(ctx context.Context, openID string, now time.Time) (bool, error) {
	u, err := s.rdb.HGet(ctx, s.k("win", openID), "until").Int64()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	return err == nil && ms(now) < u, err
}

// CloseWindow implements store.Store.
func (s *Redis) CloseWindow(ctx context.Context, openID string) error {
	return closeWindow.Run(ctx, s.rdb, []string{s.k("win", openID)}, ms(s.now()), closedWindowMemory.Milliseconds()).Err()
}

// KnowsWindow implements store.WindowKnower.
func (s *Redis) KnowsWindow(ctx context.Context, openID string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.k("win", openID)).Result()
	return n == 1, err
}

// enqueue adds a send unless its ID was seen: KEYS id, stream, user seq;
// ARGV id TTL (s), send JSON. The send's Seq is the user's sequence number.
var enqueueScript = goredis.NewScript(`
if not redis.call('SET', KEYS[1], 'p', 'NX', 'EX', ARGV[1]) then return 0 end
local useq = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[2], '*', 'send', ARGV[2], 'useq', useq)
return useq`)

// Enqueue implements store.Store.
func (s *Redis) Enqueue(ctx context.Context, sends ...*outbox.Send) error {
	pipe := s.rdb.Pipeline()
	for _, snd := range sends {
		b, err := json.Marshal(snd)
		if err != nil {
			return err
		}
		// EVAL, not EVALSHA: a pipeline cannot fall back when the script cache is empty.
		enqueueScript.Eval(ctx, pipe, []string{s.k("id", snd.ID), s.k("outbox"), s.k("useq", snd.OrderKey)},
			int(store.IDRetention.Seconds()), b)
	}
	_, err := pipe.Exec(ctx)
	if err != nil {
		return fmt.Errorf("redis outbox: %w", err)
	}
	return nil
}

// held is a stream entry this consumer owns.
type held struct {
	id   string
	send *outbox.Send
	// dropped: an operator dropped the send behind an earlier one of its
	// user; Due settles it without delivering (see Drop).
	dropped bool
}

// malformed is a stream entry that is not a send: its id, what could be
// read of it (or nil) and why.
type malformed struct {
	id   string
	send *outbox.Send
	why  string
}

// parse decodes stream entries into the sends held and the malformed
// entries, which Due dead-letters.
func (s *Redis) parse(msgs []goredis.XMessage) ([]held, []malformed) {
	out := make([]held, 0, len(msgs))
	var bad []malformed
	for _, m := range msgs {
		raw, ok := m.Values["send"].(string)
		if !ok {
			bad = append(bad, malformed{id: m.ID, why: fmt.Sprintf("no send field (fields %s)", clip(fmt.Sprint(m.Values)))})
			continue
		}
		var snd outbox.Send
		if err := json.Unmarshal([]byte(raw), &snd); err != nil {
			bad = append(bad, malformed{id: m.ID, why: fmt.Sprintf("send field: %v (%d bytes: %q)", err, len(raw), clip(raw))})
			continue
		}
		snd.Ref = m.ID
		useq, err := strconv.ParseUint(fmt.Sprint(m.Values["useq"]), 10, 64)
		if err != nil || useq == 0 {
			bad = append(bad, malformed{id: m.ID, send: &snd, why: fmt.Sprintf("useq field %q: want the user's sequence number", clip(fmt.Sprint(m.Values["useq"])))})
			continue
		}
		snd.Seq = useq
		_, dropped := m.Values["drop"]
		out = append(out, held{id: m.ID, send: &snd, dropped: dropped})
	}
	return out, bad
}

// clip shortens s for a dead letter's reason.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// deadMalformedScript acks and deletes a malformed entry and records it in
// the dead letters, once: only the call whose XACK took it off the pending
// list records it. KEYS stream, dead; ARGV entry id, dead letter JSON.
var deadMalformedScript = goredis.NewScript(`
local n = redis.call('XACK', KEYS[1], 'wxbot', ARGV[1])
if n == 1 then
  redis.call('XDEL', KEYS[1], ARGV[1])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 10000, '*', 'dead', ARGV[2])
end
return n`)

// deadMalformed dead-letters malformed entries: delivering them is
// impossible, and left pending they would be read again by every Due
// (and taken over by every replica in turn) forever. Their user, when
// unknown, cannot have its cursor moved past them.
func (s *Redis) deadMalformed(ctx context.Context, bad []malformed) error {
	for _, m := range bad {
		snd := m.send
		if snd == nil {
			snd = &outbox.Send{Ref: m.id}
		}
		b, err := json.Marshal(outbox.DeadLetter{Send: snd, Reason: fmt.Sprintf("corrupt outbox entry %s: %s", m.id, m.why), At: s.now()})
		if err != nil {
			return err
		}
		if err := deadMalformedScript.Run(ctx, s.rdb, []string{s.k("outbox"), s.k("dead")}, m.id, b).Err(); err != nil {
			return fmt.Errorf("redis outbox: dead-lettering corrupt entry %s: %w", m.id, err)
		}
	}
	return nil
}

// Due implements store.Store. It takes over sends idle too long with a
// dead consumer, reads this consumer's own and new sends, and returns those
// ready now in per-user order. Sends it keeps waiting (not yet due, or
// behind an earlier send of their user) have their idle time reset, so
// that live consumers do not lose them to XAUTOCLAIM.
func (s *Redis) Due(ctx context.Context, now time.Time, limit int, skip func(string) bool) ([]*outbox.Send, error) {
	if err := s.claimIdle(ctx); err != nil {
		return nil, err
	}
	all, err := s.readHeld(ctx)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	cursor, err := s.cursors(ctx, all)
	if err != nil {
		return nil, err
	}
	if err := s.settleDropped(ctx, all, cursor); err != nil {
		return nil, err
	}
	stream := s.k("outbox")
	var out []*outbox.Send
	var waiting []string
	chosen := map[string]bool{}
	for _, h := range all {
		u := h.send.OrderKey
		ok := len(out) < limit && !chosen[u] && !h.dropped && h.send.Seq == cursor[u]+1 &&
			!h.send.NotBefore.After(now) && (skip == nil || !skip(u))
		if ok {
			chosen[u] = true
			out = append(out, h.send)
			continue
		}
		if h.send.Seq <= cursor[u] { // a leftover of a send already settled
			s.rdb.XAck(ctx, stream, redisGroup, h.id)
			s.rdb.XDel(ctx, stream, h.id)
			continue
		}
		waiting = append(waiting, h.id)
	}
	if len(waiting) > 0 { // keep them ours: reset their idle time
		s.rdb.XClaimJustID(ctx, &goredis.XClaimArgs{Stream: stream, Group: redisGroup, Consumer: s.consumer,
			MinIdle: 0, Messages: waiting})
	}
	return out, nil
}

// claimIdle takes over the sends another replica held too long.
func (s *Redis) claimIdle(ctx context.Context) error {
	autoClaim := func() error {
		_, _, err := s.rdb.XAutoClaim(ctx, &goredis.XAutoClaimArgs{Stream: s.k("outbox"), Group: redisGroup,
			Consumer: s.consumer, MinIdle: s.ClaimIdle, Start: "0-0", Count: 100}).Result()
		if errors.Is(err, goredis.Nil) {
			return nil
		}
		return err
	}
	err := autoClaim()
	if err != nil && strings.Contains(err.Error(), "NOGROUP") {
		// The stream or the group went under us (DEL, FLUSHDB, eviction):
		// make the group again, from the stream's start so that the sends
		// enqueued since are read, and carry on.
		if err := s.ensureGroup(ctx); err != nil {
			return err
		}
		err = autoClaim()
	}
	if err != nil {
		return fmt.Errorf("redis outbox: %w", err)
	}
	return nil
}

// readHeld reads this consumer's pending entries and new ones, in stream
// order; malformed entries are dead-lettered on the way.
func (s *Redis) readHeld(ctx context.Context) ([]held, error) {
	var all []held
	for _, start := range []string{"0", ">"} {
		res, err := s.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: redisGroup, Consumer: s.consumer,
			Streams: []string{s.k("outbox"), start}, Count: 200, Block: -1}).Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return nil, fmt.Errorf("redis outbox: %w", err)
		}
		for _, st := range res {
			h, bad := s.parse(st.Messages)
			all = append(all, h...)
			if err := s.deadMalformed(ctx, bad); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return streamLess(all[i].id, all[j].id) })
	return all, nil
}

// cursors reads, for each ordering key among held, the Seq of its last
// settled send.
func (s *Redis) cursors(ctx context.Context, all []held) (map[string]uint64, error) {
	seen := map[string]bool{}
	var users []string
	for _, h := range all {
		if !seen[h.send.OrderKey] {
			seen[h.send.OrderKey] = true
			users = append(users, h.send.OrderKey)
		}
	}
	keys := make([]string, len(users))
	for i, u := range users {
		keys[i] = s.k("ucur", u)
	}
	curs, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis outbox: %w", err)
	}
	cursor := map[string]uint64{}
	for i, u := range users {
		if v, ok := curs[i].(string); ok {
			cursor[u], _ = strconv.ParseUint(v, 10, 64)
		}
	}
	return cursor, nil
}

// streamLess orders stream IDs ("ms-seq").
func streamLess(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	ai, _ := strconv.ParseUint(am, 10, 64)
	bi, _ := strconv.ParseUint(bm, 10, 64)
	if ai != bi {
		return ai < bi
	}
	ax, _ := strconv.ParseUint(as, 10, 64)
	bx, _ := strconv.ParseUint(bs, 10, 64)
	return ax < bx
}

// settle acks and deletes a stream entry and advances its user's cursor;
// KEYS stream, cursor, id; ARGV entry id, useq, id state, id TTL (s), then
// optionally the dead stream's key and fields.
var settleScript = goredis.NewScript(`
local n = redis.call('XACK', KEYS[1], 'wxbot', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[2]) > cur then redis.call('SET', KEYS[2], ARGV[2]) end
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
if KEYS[4] then redis.call('XADD', KEYS[4], 'MAXLEN', '~', 10000, '*', 'dead', ARGV[5]) end
return n`)

// Done implements store.Store.
func (s *Redis) Done(ctx context.Context, snd *outbox.Send) error { return s.settle(ctx, snd, "d") }

// settle settles snd, its ID's state set to state (see Track).
func (s *Redis) settle(ctx context.Context, snd *outbox.Send, state string) error {
	return settleScript.Run(ctx, s.rdb, []string{s.k("outbox"), s.k("ucur", snd.OrderKey), s.k("id", snd.ID)},
		snd.Ref, snd.Seq, state, int(store.IDRetention.Seconds())).Err()
}

// Dead implements store.Store.
func (s *Redis) Dead(ctx context.Context, snd *outbox.Send, reason string) error {
	b, err := json.Marshal(outbox.DeadLetter{Send: snd, Reason: reason, At: s.now()})
	if err != nil {
		return err
	}
	return settleScript.Run(ctx, s.rdb, []string{s.k("outbox"), s.k("ucur", snd.OrderKey), s.k("id", snd.ID), s.k("dead")},
		snd.Ref, snd.Seq, "x", int(store.IDRetention.Seconds()), b).Err()
}

// retryScript replaces an entry by an updated copy with the same user
// sequence number; KEYS stream; ARGV old id, send JSON, useq.
var retryScript = goredis.NewScript(`
redis.call('XADD', KEYS[1], '*', 'send', ARGV[2], 'useq', ARGV[3])
redis.call('XACK', KEYS[1], 'wxbot', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
return 1`)

// Retry implements store.Store.
func (s *Redis) Retry(ctx context.Context, snd *outbox.Send) error {
	b, err := json.Marshal(snd)
	if err != nil {
		return err
	}
	return retryScript.Run(ctx, s.rdb, []string{s.k("outbox")}, snd.Ref, b, snd.Seq).Err()
}

// DeadLetters implements store.Store.
func (s *Redis) DeadLetters(ctx context.Context, limit int) ([]outbox.DeadLetter, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, s.k("dead"), "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, err
	}
	out := make([]outbox.DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		var d outbox.DeadLetter
		if raw, ok := m.Values["dead"].(string); ok && json.Unmarshal([]byte(raw), &d) == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// Pending implements store.Store: entries still in the stream.
func (s *Redis) Pending(ctx context.Context) (int, error) {
	n, err := s.rdb.XLen(ctx, s.k("outbox")).Result()
	return int(n), err
}

// Close implements store.Store.
func (s *Redis) Close() error {
	if s.view {
		return nil
	}
	return s.rdb.Close()
}

// LogRedisTo sends the Redis client's own messages (a pool that cannot
// dial, …) to log, instead of plain text on standard error, which would
// break JSON logs. The client's logger is process-wide.
func LogRedisTo(log *slog.Logger) { goredis.SetLogger(redisLogger{log}) }

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Warn("redis client", "detail", fmt.Sprintf(format, v...))
}

// RememberQuery implements callback.Replays, shared by the replicas.
func (s *Redis) RememberQuery(ctx context.Context, key, bodyHash string, ttl time.Duration) (string, error) {
	return s.runHot(ctx, rememberQuery, []string{s.k("q", key)}, bodyHash, ttl.Milliseconds()).Text()
}

// rememberQuery: KEYS the query's key; ARGV body hash, TTL ms. Returns the
// body hash stored before, or "".
var rememberQuery = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ''`)
