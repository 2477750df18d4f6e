package store

import (
	"bytes"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The answers WeChat may still retry are kept on disk, so that a retry
// reaching a restarted bot (a deploy, SIGTERM) gets the first reply's
// bytes and runs no rule again. They are written behind with the windows
// and cooldowns (one commit per half second, not an fsync per push) and on
// Close; a crash loses at most the last half second of them.
//
// On disk: the key is the answer's end (Unix ms, big-endian) and the push
// key, so expired answers are the bucket's first keys and pruning reads
// only them; the value is the content type, a newline, and the body.

type savedAnswer struct {
	key, contentType string
	body             []byte
	until            time.Time
}

// SaveAnswer keeps a push's answer until until. It copies body.
func (s *Bolt) SaveAnswer(key, contentType string, body []byte, until time.Time) {
	a := savedAnswer{key: key, contentType: contentType, body: bytes.Clone(body), until: until}
	s.mu.Lock()
	s.answers = append(s.answers, a)
	s.mu.Unlock()
}

// SavedAnswers calls f for every answer still valid at now.
func (s *Bolt) SavedAnswers(now time.Time, f func(key, contentType string, body []byte)) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bAnswers).Cursor()
		for k, v := c.Seek(msKey(now)); k != nil; k, v = c.Next() {
			if len(k) < 8 {
				continue
			}
			ct, body, ok := bytes.Cut(v, []byte{'\n'})
			if !ok {
				continue
			}
			f(string(k[8:]), string(ct), bytes.Clone(body))
		}
		return nil
	})
}

// writeAnswers stores answers and drops the expired ones.
func writeAnswers(tx *bolt.Tx, answers []savedAnswer, now time.Time) {
	b := tx.Bucket(bAnswers)
	for _, a := range answers {
		k := append(msKey(a.until), a.key...)
		v := append(append([]byte(a.contentType), '\n'), a.body...)
		b.Put(k, v)
	}
	var expired [][]byte // collected first: deleting under a cursor can skip keys
	c := b.Cursor()
	end := msKey(now)
	for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
		expired = append(expired, bytes.Clone(k))
	}
	for _, k := range expired {
		b.Delete(k)
	}
}

func msKey(t time.Time) []byte {
	k := make([]byte, 8, 64)
	binary.BigEndian.PutUint64(k, uint64(t.UnixMilli()))
	return k
}
