package console

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// A session is kept in the store as the state of a pseudo-user whose name
// no OpenID has (as the engine keeps the agents online), so that replicas
// on one store share it and a restart keeps it. The name holds a hash of
// the session's id, never the id itself: whoever can read the store (an
// export, a Redis shared with other programs) must not be able to log in.
const sessionUserPrefix = store.InternalUserPrefix + "console-session:"

// syncEvery is how often a session in use is written back to the store
// (its last use and expiry) and checked there: not a write per request,
// and a log-out on another replica ends the session here within it.
const syncEvery = time.Minute

// The keys of a session's state.
const (
	keyUser     = "user"
	keyAccounts = "accounts"
	keyCSRF     = "csrf"
	keyCreated  = "created"
	keyLastSeen = "lastSeen"
)

// sessions holds the live sessions: in the store when there is one, with
// this map as its cache (and the home of each session's workspaces, which
// stay in this process); only in the map otherwise, and then a restart
// logs everyone out.
type sessions struct {
	mu    sync.Mutex
	m     map[string]*session
	idle  time.Duration // a session unused this long ends
	max   time.Duration // and any session ends this long after log-in
	now   func() time.Time
	store store.Users // nil: sessions live in this process only
	log   *slog.Logger
}

// tokenLen is the length of an id randomToken makes: a cookie of any
// other length is no session, and costs no read of the store.
var tokenLen = base64.RawURLEncoding.EncodedLen(32)

// maxSessions bounds the memory sessions take; the oldest goes first.
const maxSessions = 10_000

// sessionUser is the store's name of session id's state.
func sessionUser(id string) string {
	sum := sha256.Sum256([]byte(id))
	return sessionUserPrefix + hex.EncodeToString(sum[:])
}

func (s *sessions) create(ctx context.Context, user string, accounts []string) (string, error) {
	now := s.now()
	id := randomToken()
	se := &session{user: user, accounts: accounts, csrf: randomToken(), created: now, lastSeen: now, synced: now, work: map[string]*workspace{}}
	if s.store != nil {
		p := &store.UserPatch{Clear: true, Set: se.state(), TTL: s.idle}
		if err := s.store.PatchUser(ctx, sessionUser(id), p); err != nil {
			return "", fmt.Errorf("keeping the session in the store (check --store; the bot's log says more): %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(id, se, now)
	return id, nil
}

// addLocked caches se under id, making room first.
func (s *sessions) addLocked(id string, se *session, now time.Time) {
	s.expireLocked(now)
	if len(s.m) >= maxSessions {
		var oldest string
		for id, se := range s.m {
			if oldest == "" || se.created.Before(s.m[oldest].created) {
				oldest = id
			}
		}
		delete(s.m, oldest)
	}
	s.m[id] = se
}

// state is what the store keeps of se.
func (se *session) state() map[string]any {
	st := map[string]any{keyUser: se.user, keyCSRF: se.csrf,
		keyCreated: se.created.Format(time.RFC3339Nano), keyLastSeen: se.lastSeen.Format(time.RFC3339Nano)}
	if se.accounts != nil { // absent: every account
		st[keyAccounts] = se.accounts
	}
	return st
}

// sessionFrom reads a session's state from the store; ok is false when
// it is none (ended, or a write that raced a log-out left only a part).
func sessionFrom(st map[string]any) (se *session, ok bool) {
	user, _ := st[keyUser].(string)
	csrf, _ := st[keyCSRF].(string)
	created, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(st[keyCreated]))
	lastSeen, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(st[keyLastSeen]))
	if user == "" || csrf == "" || err1 != nil || err2 != nil {
		return nil, false
	}
	se = &session{user: user, csrf: csrf, created: created, lastSeen: lastSeen, work: map[string]*workspace{}}
	raw, has := st[keyAccounts]
	if !has {
		return se, true
	}
	list, isList := raw.([]any)
	if !isList {
		return nil, false
	}
	se.accounts = make([]string, 0, len(list))
	for _, a := range list {
		name, isString := a.(string)
		if !isString {
			return nil, false
		}
		se.accounts = append(se.accounts, name)
	}
	return se, true
}

func (s *sessions) expireLocked(now time.Time) {
	for id, se := range s.m {
		if s.expired(se, now) {
			delete(s.m, id)
		}
	}
}

func (s *sessions) expired(se *session, now time.Time) bool {
	return now.Sub(se.lastSeen) > s.idle || now.Sub(se.created) > s.max
}

// get returns the session of the request's cookie, refreshing its idle
// time, or nil.
func (s *sessions) get(r *http.Request) (string, *session) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return "", nil
	}
	id, now := c.Value, s.now()
	s.mu.Lock()
	se, ask := s.cachedLocked(id, now)
	s.mu.Unlock()
	if ask {
		se = s.sync(r.Context(), id, se, now)
	}
	if se == nil {
		return "", nil
	}
	return id, se
}

// cachedLocked returns the cached session of id, marked as used now, and
// whether the store must be asked: a miss (the session may be another
// replica's, or older than this process), or a session due to be synced.
func (s *sessions) cachedLocked(id string, now time.Time) (*session, bool) {
	se := s.m[id]
	if se != nil && s.expired(se, now) {
		// Idle here is not idle everywhere: another replica may have
		// served it since; the store knows.
		delete(s.m, id)
		se = nil
	}
	if se == nil {
		return nil, s.store != nil && len(id) == tokenLen
	}
	se.lastSeen = now
	if s.store == nil || now.Sub(se.synced) < syncEvery {
		return se, false
	}
	se.synced = now // the requests meanwhile need not sync it too
	return se, true
}

// sync checks the session of id in the store and records its use there;
// cached is this process's copy, nil when it has none. It returns the
// session, nil when the store has none.
func (s *sessions) sync(ctx context.Context, id string, cached *session, now time.Time) *session {
	name := sessionUser(id)
	st, err := s.store.LoadUser(ctx, name)
	if err != nil {
		// A store that fails keeps the sessions this process knows, and
		// finds no other: the marketer logs in again once it is back.
		s.log.Warn("console: reading a session from the store failed (check --store)", "err", err)
		return cached
	}
	found, ok := sessionFrom(st)
	if !ok || s.expired(found, now) {
		s.mu.Lock()
		if s.m[id] == cached {
			delete(s.m, id)
		}
		s.mu.Unlock()
		return nil
	}
	if cached == nil {
		found.lastSeen, found.synced = now, now
		s.mu.Lock()
		if cached = s.m[id]; cached == nil { // a request meanwhile may have found it first
			cached = found
			s.addLocked(id, found, now)
		}
		s.mu.Unlock()
	}
	p := &store.UserPatch{Set: map[string]any{keyLastSeen: now.Format(time.RFC3339Nano)}, TTL: s.idle}
	if err := s.store.PatchUser(ctx, name, p); err != nil {
		s.log.Warn("console: recording a session's use in the store failed (check --store); other replicas may end it early", "err", err)
	}
	return cached
}

// end ends session id: here, and in the store for every replica.
func (s *sessions) end(ctx context.Context, id string) error {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
	if s.store == nil {
		return nil
	}
	// Cleared, the state is no session; its empty record goes soon after.
	return s.store.PatchUser(ctx, sessionUser(id), &store.UserPatch{Clear: true, TTL: time.Second})
}

// with runs f with the sessions locked: a session's draft and chat are
// read and changed under the lock.
func (s *sessions) with(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}
