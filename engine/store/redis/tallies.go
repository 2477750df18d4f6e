package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxbot/wxbot/engine/store"
)

// The store.Tallies in Redis are a hash per (day, kind), PREFIX
// tally:DAY:KIND, name → count, and a set per day, PREFIX tally:DAY, of
// the kinds it has (a reader cannot know them otherwise; SCAN would walk
// the whole keyspace, node by node on a cluster). On a cluster every key
// of a store carries its hash tag ({default}, or the account's: see
// Connect and Account), so one script adds a whole batch, on one node and
// at once: a batch of scripts failing midway would leave the engine's
// retry of it to count some of it twice. As for the store's other keys,
// the caller's clock decides when a day is forgotten (ReadTallies), and
// Redis's TTL only collects it.

// addTallies adds a batch. KEYS: the hashes, then the days' sets.
// ARGV: the cap, the number of hashes, then per hash: the index of its
// day's set in KEYS, its kind, its TTL (ms), its number of names, and
// that many name, count pairs. A name new to a full hash is dropped. A
// damaged count (not an integer) is replaced rather than failing every
// batch of its day.
var addTallies = goredis.NewScript(`
local cap, h = tonumber(ARGV[1]), tonumber(ARGV[2])
local a = 3
for i = 1, h do
  local set, kind, ttl, m = KEYS[tonumber(ARGV[a])], ARGV[a+1], ARGV[a+2], tonumber(ARGV[a+3])
  a = a + 4
  local len = redis.call('HLEN', KEYS[i])
  for j = 1, m do
    local name, n = ARGV[a], ARGV[a+1]
    a = a + 2
    local had = redis.call('HEXISTS', KEYS[i], name) == 1
    if had or len < cap then
      local r = redis.pcall('HINCRBY', KEYS[i], name, n)
      if type(r) == 'table' and r.err then redis.call('HSET', KEYS[i], name, n) end
      if not had then len = len + 1 end
    end
  end
  redis.call('PEXPIRE', KEYS[i], ttl)
  redis.call('SADD', set, kind)
  redis.call('PEXPIRE', set, ttl)
end
return h`)

// tallyGroup is the counts of a batch for one hash, the names in the
// order the batch first has them (which new names a full kind takes).
type tallyGroup struct {
	day, kind string
	names     []string
	n         map[string]int64
}

// groupTallies groups a batch by (day, kind), in the batch's order, the
// counts of a name summed; a count ≤ 0, or of a day forgotten at now, is
// left out.
func groupTallies(counts []store.Tally, now time.Time) []*tallyGroup {
	type dk struct{ day, kind string }
	var groups []*tallyGroup
	index := map[dk]*tallyGroup{}
	for _, t := range counts {
		if t.N <= 0 || store.TallyExpired(t.Day, now) {
			continue
		}
		g := index[dk{t.Day, t.Kind}]
		if g == nil {
			g = &tallyGroup{day: t.Day, kind: t.Kind, n: map[string]int64{}}
			index[dk{t.Day, t.Kind}] = g
			groups = append(groups, g)
		}
		if _, ok := g.n[t.Name]; !ok {
			g.names = append(g.names, t.Name)
		}
		g.n[t.Name] += t.N
	}
	return groups
}

// AddTallies implements store.Tallies: one script, one round trip. A
// batch with an invalid counter is refused whole; a count ≤ 0, or of a
// day already forgotten, is left out.
func (s *Redis) AddTallies(ctx context.Context, counts []store.Tally) error {
	if err := store.CheckTallies(counts); err != nil {
		return err
	}
	now := s.now()
	groups := groupTallies(counts, now)
	if len(groups) == 0 {
		return nil
	}
	keys := make([]string, 0, len(groups)+1)
	for _, g := range groups {
		keys = append(keys, s.k("tally", g.day, g.kind))
	}
	sets := map[string]int{} // day → index of its set in KEYS (1-based)
	argv := []any{store.MaxTallyNames, len(groups)}
	for _, g := range groups {
		if sets[g.day] == 0 {
			keys = append(keys, s.k("tally", g.day))
			sets[g.day] = len(keys)
		}
		end, _ := store.TallyDayEnd(g.day)
		ttl := max(end.Add(store.TallyRetention).Sub(now).Milliseconds(), 1)
		argv = append(argv, sets[g.day], g.kind, ttl, len(g.names))
		for _, name := range g.names {
			argv = append(argv, name, g.n[name])
		}
	}
	if err := addTallies.Run(ctx, s.rdb, keys, argv...).Err(); err != nil {
		return fmt.Errorf("redis: adding the daily counters: %w", err)
	}
	return nil
}

// ReadTallies implements store.Tallies, ordered by kind, then name: the
// day's kinds, then their hashes in one pipeline. A damaged count is
// skipped.
func (s *Redis) ReadTallies(ctx context.Context, day string) ([]store.Tally, error) {
	if err := store.CheckTallyDay(day); err != nil {
		return nil, err
	}
	if store.TallyExpired(day, s.now()) { // Redis may not have collected it yet
		return nil, nil
	}
	kinds, err := s.rdb.SMembers(ctx, s.k("tally", day)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: reading the kinds of the daily counters of %s: %w", day, err)
	}
	if len(kinds) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*goredis.MapStringStringCmd, len(kinds))
	for i, kind := range kinds {
		cmds[i] = pipe.HGetAll(ctx, s.k("tally", day, kind))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis: reading the daily counters of %s: %w", day, err)
	}
	var out []store.Tally
	for i, kind := range kinds {
		for name, v := range cmds[i].Val() {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				out = append(out, store.Tally{Day: day, Kind: kind, Name: name, N: n})
			}
		}
	}
	store.SortTallies(out)
	return out, nil
}

var _ store.Tallies = (*Redis)(nil)

// The Guard's store.Tallies go to the store or fail: the engine keeps the
// counts it could not add and adds them at its next flush, so a spool
// would only count them twice. A batch or a day the store would refuse is
// refused here, before the store is called: a refusal is no failure of
// the store, for the breaker.

// AddTallies implements store.Tallies, with the patience of a background
// flush rather than a push's.
func (g *Guard) AddTallies(ctx context.Context, counts []store.Tally) error {
	t, err := primaryAs[store.Tallies](g, "daily counters")
	if err != nil {
		return err
	}
	if err := store.CheckTallies(counts); err != nil {
		return err
	}
	return g.call(ctx, 2*time.Second, func(c context.Context) error { return t.AddTallies(c, counts) })
}

// ReadTallies implements store.Tallies, with the patience of a page's
// load rather than a push's.
func (g *Guard) ReadTallies(ctx context.Context, day string) ([]store.Tally, error) {
	t, err := primaryAs[store.Tallies](g, "daily counters")
	if err != nil {
		return nil, err
	}
	if err := store.CheckTallyDay(day); err != nil {
		return nil, err
	}
	return guarded(g, ctx, 2*time.Second, func(c context.Context) ([]store.Tally, error) { return t.ReadTallies(c, day) }, nil)
}

var _ store.Tallies = (*Guard)(nil)
