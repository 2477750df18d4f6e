package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxbot/wxbot/engine/dedup"
)

// Dedup is the dedup.Cache replicas share: the first copy of a push
// marks it pending in Redis, later copies (WeChat's retries, wherever the
// load balancer sends them) poll until the first copy's answer is stored,
// and get its bytes.
type Dedup struct {
	s   *Redis
	ttl time.Duration
	// Stale is how old a pending mark may get before another replica takes
	// the push over (its claimer died): more than the reply deadline.
	Stale time.Duration
	// Poll is how often waiters look for the answer.
	Poll time.Duration
	// Timeout bounds each Redis call, so that a Redis that hangs costs a
	// push at most this much per call.
	Timeout time.Duration

	// Answers are written behind, off the push's path (a push waits for
	// no round trip after its answer is ready): a writer pipelines what
	// has queued. A retry that comes meanwhile finds the pending mark and
	// polls until the answer lands.
	once    sync.Once
	mu      sync.RWMutex // Close against a Finish queuing
	closed  bool
	answers chan answerWrite
	stopped chan struct{}
}

type answerWrite struct {
	key string
	v   []byte
}

// answerQueue bounds the answers waiting to be written; past it a push
// writes its own answer (a Redis slower than the pushes: the queue would
// only grow).
const answerQueue = 4096

// NewDedup returns a Deduper on s keeping answers for ttl.
func NewDedup(s *Redis, ttl time.Duration) *Dedup {
	return &Dedup{s: s, ttl: ttl, Stale: 8 * time.Second, Poll: 20 * time.Millisecond, Timeout: 300 * time.Millisecond,
		answers: make(chan answerWrite, answerQueue), stopped: make(chan struct{})}
}

// writeBehind writes the queued answers, a pipeline a batch, until Close.
func (d *Dedup) writeBehind() {
	defer close(d.stopped)
	batch := make([]answerWrite, 0, 256)
	for w := range d.answers {
		batch = append(batch[:0], w)
		for more := true; more && len(batch) < cap(batch); {
			select {
			case w, ok := <-d.answers:
				if !ok {
					more = false
					break
				}
				batch = append(batch, w)
			default:
				more = false
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*d.Timeout)
		d.s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, w := range batch {
				p.Set(ctx, w.key, w.v, d.ttl)
			}
			return nil
		})
		cancel()
	}
}

// queue hands an answer to the writer; false when it is behind or closed.
func (d *Dedup) queue(key string, v []byte) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return false
	}
	d.once.Do(func() { go d.writeBehind() })
	select {
	case d.answers <- answerWrite{key, v}:
		return true
	default:
		return false
	}
}

// Close writes the answers still queued, then stops the writer: a retry
// that reaches another replica (or this one, restarted) finds them.
func (d *Dedup) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	started := true
	d.once.Do(func() { started = false }) // never started: nothing queued
	close(d.answers)
	d.mu.Unlock()
	if started {
		<-d.stopped
	}
}

// claimScript: KEYS key; ARGV now ms, stale ms, ttl ms. Marks the push
// pending ("p:<ms>") unless an answer or a fresh mark is there.
var claimScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  if string.sub(v, 1, 2) ~= 'p:' then return 0 end
  if tonumber(ARGV[1]) - tonumber(string.sub(v, 3)) < tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], 'p:' .. ARGV[1], 'PX', ARGV[3])
return 1`)

// Claim implements dedup.Cache.
func (d *Dedup) Claim(ctx context.Context, key string) (dedup.Answer, bool, error) {
	k := d.s.k("dedup", key)
	r, err := d.s.runHot(ctx, claimScript, []string{k}, ms(d.s.now()), d.Stale.Milliseconds(), d.ttl.Milliseconds()).Int()
	if err != nil {
		return nil, false, err
	}
	return &redisAnswer{d: d, key: k}, r == 1, nil
}

// claimWindowScript: KEYS key, window, user state; ARGV now ms, stale ms,
// ttl ms, until ms, the state key to read ("" none). claimScript, then,
// when the push is claimed, openWindow's merge and the state key's value:
// the push's store work in one round trip. It returns {claimed, value}
// (value false when absent or not read).
var claimWindowScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
local now = tonumber(ARGV[1])
if v then
  if string.sub(v, 1, 2) ~= 'p:' then return {0, false} end
  if now - tonumber(string.sub(v, 3)) < tonumber(ARGV[2]) then return {0, false} end
end
redis.call('SET', KEYS[1], 'p:' .. ARGV[1], 'PX', ARGV[3])
local u = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
local nu = tonumber(ARGV[4])
if now >= u or nu > u then
  redis.call('HSET', KEYS[2], 'until', nu)
  redis.call('PEXPIRE', KEYS[2], nu - now + 60000)
end
if ARGV[5] == '' then return {1, false} end
return {1, redis.call('HGET', KEYS[3], ARGV[5])}`)

// ClaimWindow implements dedup.WindowCache.
func (d *Dedup) ClaimWindow(ctx context.Context, key string, w dedup.Window) (dedup.Answer, dedup.WindowClaim, error) {
	k := d.s.k("dedup", key)
	res, err := d.s.runHot(ctx, claimWindowScript, []string{k, d.s.k("win", w.OpenID), d.s.k("user", w.OpenID)},
		ms(d.s.now()), d.Stale.Milliseconds(), d.ttl.Milliseconds(), ms(w.Until), w.Read).Slice()
	if err != nil {
		return nil, dedup.WindowClaim{}, err
	}
	var c dedup.WindowClaim
	if len(res) > 0 {
		n, _ := res[0].(int64)
		c.First, c.Opened = n == 1, n == 1
	}
	if c.First && w.Read != "" {
		v := ""
		if len(res) > 1 {
			v, _ = res[1].(string)
		}
		c.Read = &v
	}
	return &redisAnswer{d: d, key: k}, c, nil
}

type redisAnswer struct {
	d   *Dedup
	key string
}

// Finish stores the answer as "a:<content type>\n<body>".
func (a *redisAnswer) Finish(contentType string, body []byte) {
	v := make([]byte, 0, len(contentType)+len(body)+3)
	v = append(append(append(v, "a:"...), contentType...), '\n')
	v = append(v, body...)
	if a.d.queue(a.key, v) {
		return
	}
	d := a.d // the writer is behind, or closed: this push pays its own round trip
	ctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	defer cancel()
	d.s.rdb.Set(ctx, a.key, v, d.ttl)
}

// Wait polls for the answer until ctx is done.
func (a *redisAnswer) Wait(ctx context.Context) (string, []byte, error) {
	t := time.NewTicker(a.d.Poll)
	defer t.Stop()
	for {
		gctx, cancel := context.WithTimeout(ctx, a.d.Timeout)
		v, err := a.d.s.rdb.Get(gctx, a.key).Result()
		cancel()
		if err == nil && strings.HasPrefix(v, "a:") {
			ct, body, _ := strings.Cut(v[2:], "\n")
			return ct, []byte(body), nil
		}
		if err != nil && err != goredis.Nil {
			return "", nil, err
		}
		select {
		case <-ctx.Done():
			return "", nil, ctx.Err()
		case <-t.C:
		}
	}
}

// TokenCache returns the access_token cache replicas share (see
// wechat.TokenCache), with a refresh lock so that one replica at a time
// fetches a token.
func (s *Redis) TokenCache(appID string) *Tokens {
	return &Tokens{s: s, key: s.k("token", appID)}
}

// Tokens is a wechat.TokenCache, wechat.TokenLocker and
// wechat.ForceRefreshLimiter in Redis.
type Tokens struct {
	s   *Redis
	key string
}

// Get implements wechat.TokenCache.
func (t *Tokens) Get(ctx context.Context) (string, time.Time, error) {
	v, err := t.s.rdb.Get(ctx, t.key).Result()
	if err == goredis.Nil {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, err
	}
	exp, tok, ok := strings.Cut(v, ":")
	if !ok {
		return "", time.Time{}, nil
	}
	n, _ := strconv.ParseInt(exp, 10, 64)
	return tok, time.UnixMilli(n), nil
}

// Set implements wechat.TokenCache.
func (t *Tokens) Set(ctx context.Context, token string, expires time.Time) error {
	ttl := time.Until(expires)
	if ttl <= 0 {
		ttl = time.Second
	}
	return t.s.rdb.Set(ctx, t.key, strconv.FormatInt(expires.UnixMilli(), 10)+":"+token, ttl).Err()
}

// invalidate deletes the token only if it is still the bad one.
var invalidateScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local i = string.find(v, ':', 1, true)
  if i and string.sub(v, i + 1) == ARGV[1] then redis.call('DEL', KEYS[1]) end
end
return 1`)

// Invalidate implements wechat.TokenCache (compare and delete).
func (t *Tokens) Invalidate(ctx context.Context, bad string) error {
	return invalidateScript.Run(ctx, t.s.rdb, []string{t.key}, bad).Err()
}

// LockRefresh implements wechat.TokenLocker: one refresher at a time, under
// a lock that expires if its holder dies.
func (t *Tokens) LockRefresh(ctx context.Context, ttl time.Duration) (func(), bool, error) {
	lock := t.key + ":lock"
	val := strconv.FormatInt(time.Now().UnixNano(), 36)
	ok, err := t.s.rdb.SetNX(ctx, lock, val, ttl).Result()
	if err != nil || !ok {
		return func() {}, false, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		unlockScript.Run(ctx, t.s.rdb, []string{lock}, val)
	}, true, nil
}

var unlockScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`)

// takeForce records a force_refresh unless WeChat's limits forbid it:
// KEYS[1] the record (a sorted set of times in ms); ARGV now, gap, window
// (ms), limit. It answers {taken (0 or 1), the times in the window...}.
var takeForce = goredis.NewScript(`
local now, gap, win, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
local times = redis.call('ZRANGE', KEYS[1], 0, -1)
local n = #times
local taken = 0
if n < limit and (n == 0 or now - tonumber(times[n]) >= gap) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], win)
  times[n + 1] = ARGV[1]
  taken = 1
end
table.insert(times, 1, taken)
return times`)

// TakeForceRefresh implements wechat.ForceRefreshLimiter: the record of
// force_refresh calls is shared by the replicas, so that together they keep
// within WeChat's limits.
func (t *Tokens) TakeForceRefresh(ctx context.Context, now time.Time, gap, window time.Duration, limit int) (bool, []time.Time, error) {
	v, err := takeForce.Run(ctx, t.s.rdb, []string{t.key + ":force"},
		ms(now), gap.Milliseconds(), max(window.Milliseconds(), 1), limit).Slice()
	if err != nil {
		return false, nil, err
	}
	if len(v) == 0 {
		return false, nil, fmt.Errorf("force_refresh record: empty answer")
	}
	taken, _ := v[0].(int64)
	recent := make([]time.Time, 0, len(v)-1)
	for _, x := range v[1:] {
		s, _ := x.(string)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return false, nil, fmt.Errorf("force_refresh record: bad entry %q", s)
		}
		recent = append(recent, time.UnixMilli(n))
	}
	return taken == 1, recent, nil
}
