package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
)

// PendingSends implements outbox.Admin: the cursor is a stream entry ID.
// Sends being dropped (see Drop) and malformed entries are left out.
func (s *Redis) PendingSends(ctx context.Context, after string, limit int) ([]*outbox.Send, string, error) {
	var out []*outbox.Send
	next := ""
	err := s.scanOutbox(ctx, after, func(h held) bool {
		if h.dropped {
			return true
		}
		if len(out) == limit {
			next = out[len(out)-1].Ref
			return false
		}
		out = append(out, h.send)
		return true
	})
	return out, next, err
}

// scanOutbox reads the outbox stream in order from just after the entry
// after ("" for its start) until each returns false.
func (s *Redis) scanOutbox(ctx context.Context, after string, each func(held) bool) error {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	for {
		msgs, err := s.rdb.XRangeN(ctx, s.k("outbox"), start, "+", 500).Result()
		if err != nil {
			return fmt.Errorf("redis outbox: %w", err)
		}
		hs, _ := s.parse(msgs)
		for _, h := range hs {
			if !each(h) {
				return nil
			}
		}
		if len(msgs) < 500 {
			return nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// deadEntries finds the dead letters of the send id (every one when id is
// ""): their stream entry IDs by send ID, and each ID's newest send.
func (s *Redis) deadEntries(ctx context.Context, id string) (map[string][]string, map[string]*outbox.Send, []string, error) {
	entries, sends := map[string][]string{}, map[string]*outbox.Send{}
	var order []string
	start := "-"
	for {
		msgs, err := s.rdb.XRangeN(ctx, s.k("dead"), start, "+", 500).Result()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("redis outbox: %w", err)
		}
		for _, m := range msgs {
			var d outbox.DeadLetter
			raw, ok := m.Values["dead"].(string)
			if !ok || json.Unmarshal([]byte(raw), &d) != nil || d.Send == nil || d.Send.ID == "" {
				continue
			}
			if id != "" && d.Send.ID != id {
				continue
			}
			if _, ok := sends[d.Send.ID]; !ok {
				order = append(order, d.Send.ID)
			}
			entries[d.Send.ID] = append(entries[d.Send.ID], m.ID)
			sends[d.Send.ID] = d.Send
		}
		if len(msgs) < 500 {
			return entries, sends, order, nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// retryDeadScript enqueues a dead letter again, once: only the call that
// deletes its dead entries enqueues it, so two replicas retrying the same
// dead letter at once enqueue it once. KEYS dead, stream, id, user seq;
// ARGV id TTL (s), send JSON, then the dead entry IDs.
var retryDeadScript = goredis.NewScript(`
local n = 0
for i = 3, #ARGV do n = n + redis.call('XDEL', KEYS[1], ARGV[i]) end
if n == 0 then return 0 end
local useq = redis.call('INCR', KEYS[4])
redis.call('XADD', KEYS[2], '*', 'send', ARGV[2], 'useq', useq)
redis.call('SET', KEYS[3], 'p', 'EX', ARGV[1])
return 1`)

func (s *Redis) retryDead(ctx context.Context, snd *outbox.Send, entries []string) (bool, error) {
	b, err := json.Marshal(store.Revived(snd, s.now()))
	if err != nil {
		return false, err
	}
	args := []any{int(store.IDRetention.Seconds()), b}
	for _, e := range entries {
		args = append(args, e)
	}
	n, err := retryDeadScript.Run(ctx, s.rdb, []string{s.k("dead"), s.k("outbox"), s.k("id", snd.ID), s.k("useq", snd.OrderKey)},
		args...).Int()
	if err != nil {
		return false, fmt.Errorf("redis outbox: retrying %s: %w", snd.ID, err)
	}
	return n == 1, nil
}

// RetryDead implements outbox.Admin.
func (s *Redis) RetryDead(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	entries, sends, _, err := s.deadEntries(ctx, id)
	if err != nil || sends[id] == nil {
		return false, err
	}
	return s.retryDead(ctx, sends[id], entries[id])
}

// RetryAllDead implements outbox.Admin.
func (s *Redis) RetryAllDead(ctx context.Context) (int, error) {
	entries, sends, order, err := s.deadEntries(ctx, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range order {
		ok, err := s.retryDead(ctx, sends[id], entries[id])
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// dropScript removes a pending send, once, and marks its ID dropped (r:
// known, never delivered, see Track); KEYS stream, cursor, id; ARGV
// entry id, useq, send JSON, id TTL (s). The user's later sends wait for
// the cursor to pass it: at the head of its user's sends, it is settled
// at once (1); behind an earlier send it is replaced by a tombstone (2),
// which Due settles without delivering when its turn comes. 0: the entry
// is gone (delivered, or replaced by a retry meanwhile).
var dropScript = goredis.NewScript(`
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return 0 end
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
local useq = tonumber(ARGV[2])
redis.call('XACK', KEYS[1], 'wxbot', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('SET', KEYS[3], 'r', 'EX', ARGV[4])
if useq <= cur + 1 then
  if useq > cur then redis.call('SET', KEYS[2], useq) end
  return 1
end
redis.call('XADD', KEYS[1], '*', 'send', ARGV[3], 'useq', ARGV[2], 'drop', '1')
return 2`)

// Drop implements outbox.Admin.
func (s *Redis) Drop(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	found := false
	entries, _, _, err := s.deadEntries(ctx, id)
	if err != nil {
		return false, err
	}
	if es := entries[id]; len(es) > 0 {
		n, err := s.rdb.XDel(ctx, s.k("dead"), es...).Result()
		if err != nil {
			return false, fmt.Errorf("redis outbox: %w", err)
		}
		found = n > 0
		if found {
			if err := s.rdb.Set(ctx, s.k("id", id), "r", store.IDRetention).Err(); err != nil {
				return found, fmt.Errorf("redis outbox: %w", err)
			}
		}
	}
	// A transient failure may replace the entry under us: look again.
	for range 3 {
		var h *held
		err := s.scanOutbox(ctx, "", func(x held) bool {
			if x.send.ID == id && !x.dropped {
				h = &x
				return false
			}
			return true
		})
		if err != nil {
			return found, err
		}
		if h == nil {
			return found, nil
		}
		tomb := *h.send
		tomb.NotBefore = tomb.Created
		b, err := json.Marshal(&tomb)
		if err != nil {
			return found, err
		}
		n, err := dropScript.Run(ctx, s.rdb, []string{s.k("outbox"), s.k("ucur", h.send.OrderKey), s.k("id", id)},
			h.id, h.send.Seq, b, int(store.IDRetention.Seconds())).Int()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return found, fmt.Errorf("redis outbox: dropping %s: %w", id, err)
		}
		if n > 0 {
			return true, nil
		}
	}
	return found, nil
}

// settleDropped settles, without delivering, the dropped sends (see Drop)
// whose turn has come, and moves cursor past them.
func (s *Redis) settleDropped(ctx context.Context, all []held, cursor map[string]uint64) error {
	for again := true; again; {
		again = false
		for _, h := range all {
			if u := h.send.OrderKey; h.dropped && h.send.Seq == cursor[u]+1 {
				if err := s.settle(ctx, h.send, "r"); err != nil {
					return err
				}
				cursor[u] = h.send.Seq
				again = true
			}
		}
	}
	return nil
}

// The stores administer their outboxes.
var (
	_ outbox.Admin = (*Redis)(nil)
	_ outbox.Admin = (*Guard)(nil)
)
