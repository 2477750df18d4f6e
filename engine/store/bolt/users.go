package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wxbot/wxbot/engine/store"
	bbolt "go.etcd.io/bbolt"
)

// bUsers holds user states: openid → 8 bytes of expiry (Unix
// milliseconds) and the state as a JSON object of encoded values. Every
// write is committed before PatchUser returns: a dialog step answered is a
// step remembered, across a restart too.
var bUsers = []byte("users")

func encodeUser(state store.EncodedState, until time.Time) ([]byte, error) {
	obj := make(map[string]json.RawMessage, len(state))
	for k, v := range state {
		obj[k] = v
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint64(out, uint64(until.UnixMilli()))
	return append(out, body...), nil
}

// decodeUser reads a record; ok is false when it has expired at now.
func decodeUser(v []byte, now time.Time) (store.EncodedState, bool, error) {
	if len(v) < 8 {
		return nil, false, fmt.Errorf("user state record of %d bytes", len(v))
	}
	if now.UnixMilli() >= int64(binary.BigEndian.Uint64(v)) {
		return nil, false, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(v[8:], &obj); err != nil {
		return nil, false, fmt.Errorf("user state record: %w", err)
	}
	st := make(store.EncodedState, len(obj))
	for k, raw := range obj {
		st[k] = raw
	}
	return st, true, nil
}

func userExpired(now time.Time) func(v []byte) bool {
	return func(v []byte) bool { return len(v) < 8 || now.UnixMilli() >= int64(binary.BigEndian.Uint64(v)) }
}

// LoadUser implements engine.Users.
func (s *Bolt) LoadUser(_ context.Context, openID string) (map[string]any, error) {
	var st store.EncodedState
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := s.bucket(tx, bUsers).Get([]byte(openID))
		if v == nil {
			return nil
		}
		var err error
		st, _, err = decodeUser(v, s.now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the state of %s: %w", openID, err)
	}
	return st.Decode()
}

// PatchUser implements engine.Users. A damaged record is replaced: the
// state is the user's dialog position, and a fresh one beats a stuck one.
func (s *Bolt) PatchUser(_ context.Context, openID string, p *store.UserPatch) error {
	set, err := store.EncodeValues(p.Set)
	if err != nil {
		return err
	}
	return s.db.Batch(func(tx *bbolt.Tx) error {
		b := s.bucket(tx, bUsers)
		now := s.now()
		cur, _, _ := decodeUser(b.Get([]byte(openID)), now)
		next, err := store.ApplyEncoded(cur, p, set)
		if err != nil {
			return err
		}
		v, err := encodeUser(next, now.Add(p.TTLOrDefault()))
		if err != nil {
			return err
		}
		return b.Put([]byte(openID), v)
	})
}

// DeleteUser implements engine.Users.
func (s *Bolt) DeleteUser(_ context.Context, openID string) (bool, error) {
	had := false
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := s.bucket(tx, bUsers)
		v := b.Get([]byte(openID))
		if v == nil {
			return nil
		}
		had = !userExpired(s.now())(v)
		return b.Delete([]byte(openID))
	})
	return had, err
}

// internalPrefix is store.InternalUserPrefix as the bucket's keys hold it.
var internalPrefix = []byte(store.InternalUserPrefix)

// CountUsers implements engine.Users: a scan, for the metrics gauge; the
// bot's own states are not counted.
func (s *Bolt) CountUsers(context.Context) (int, error) {
	n := 0
	expired := userExpired(s.now())
	err := s.db.View(func(tx *bbolt.Tx) error {
		return s.bucket(tx, bUsers).ForEach(func(k, v []byte) error {
			if !expired(v) && !bytes.HasPrefix(k, internalPrefix) {
				n++
			}
			return nil
		})
	})
	return n, err
}
