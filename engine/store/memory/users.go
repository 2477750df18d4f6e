package memory

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// memUsers keeps user states in process memory (Memory, and Guard's
// stand-in for nothing: a Redis that is down reads as no state).
type memUsers struct {
	mu      sync.Mutex
	m       map[string]memUser
	sweepAt time.Time
}

type memUser struct {
	state store.EncodedState
	until time.Time
}

func (u *memUsers) load(openID string, now time.Time) (map[string]any, error) {
	u.mu.Lock()
	rec, ok := u.m[openID]
	u.mu.Unlock()
	if !ok || !now.Before(rec.until) {
		return nil, nil
	}
	return rec.state.Decode()
}

func (u *memUsers) patch(openID string, p *store.UserPatch, now time.Time) error {
	set, err := store.EncodeValues(p.Set)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]memUser{}
	}
	if now.After(u.sweepAt) {
		for k, rec := range u.m {
			if !now.Before(rec.until) {
				delete(u.m, k)
			}
		}
		u.sweepAt = now.Add(time.Minute)
	}
	cur := u.m[openID]
	if !now.Before(cur.until) {
		cur.state = nil
	}
	next, err := store.ApplyEncoded(cur.state, p, set)
	if err != nil {
		return err
	}
	u.m[strings.Clone(openID)] = memUser{state: next, until: now.Add(p.TTLOrDefault())}
	return nil
}

func (u *memUsers) delete(openID string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	rec, ok := u.m[openID]
	delete(u.m, openID)
	return ok && now.Before(rec.until)
}

func (u *memUsers) count(now time.Time) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for id, rec := range u.m {
		if now.Before(rec.until) && !store.InternalUser(id) {
			n++
		}
	}
	return n
}

// LoadUser implements engine.Users.
func (s *Memory) LoadUser(_ context.Context, openID string) (map[string]any, error) {
	return s.users.load(openID, s.now())
}

// PatchUser implements engine.Users.
func (s *Memory) PatchUser(_ context.Context, openID string, p *store.UserPatch) error {
	return s.users.patch(openID, p, s.now())
}

// DeleteUser implements engine.Users.
func (s *Memory) DeleteUser(_ context.Context, openID string) (bool, error) {
	return s.users.delete(openID, s.now()), nil
}

// CountUsers implements engine.Users.
func (s *Memory) CountUsers(context.Context) (int, error) { return s.users.count(s.now()), nil }
