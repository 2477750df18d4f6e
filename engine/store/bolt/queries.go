package bolt

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/wxbot/wxbot/engine/store"
)

// The replay window's signed query strings (see callback.Replays) are
// written behind like the answers, to segments beside the bbolt file
// (PATH.queries.<start ms>): a restart reads back those still in their
// window, so that a query string captured before it is still refused with
// another body, as on Redis. Without them a restart opened the whole
// window again to whoever had read an access log.
//
// A record is 44 bytes: end (Unix ms, 8 bytes big-endian), the window it
// was kept for (ms, 4), 16 bytes of the query string's SHA-256 and the
// body's 16 (store.QueryBody). The memory is keyed by the same 16 bytes,
// so that what is read back meets what comes in; the query string itself
// is never written, so the files hold nothing a replay could use.

const (
	queryRecord  = 44
	querySegment = time.Minute
	// maxQueryWindow is the longest window written down: the window
	// is twice --max-skew, and a longer one would read back as damage.
	maxQueryWindow = maxRecordLife
)

// RememberQuery implements callback.Replays: in this process's memory,
// and written behind, so that the window survives a restart (replicas
// share query strings only on Redis). A kill -9 loses the last half
// second's, as it does the answers'.
func (s *Bolt) RememberQuery(_ context.Context, key, bodyHash string, ttl time.Duration) (string, error) {
	sum := queryKey(key)
	body := store.QueryBody(bodyHash)
	now := s.now()
	prev, seen := s.nonces.RememberBody(string(sum[:16]), body, now, ttl)
	switch {
	case seen && prev == body:
		return bodyHash, nil
	case seen:
		return hex.EncodeToString(prev[:]), nil
	case ttl > 0 && ttl <= maxQueryWindow:
		s.saveQuery(sum[:16], body, now.Add(ttl), ttl)
	}
	return "", nil
}

// queryKey is the SHA-256 of a query string, hashed from a copy on the
// stack: a conversion to bytes of a string this long (timestamp, nonce,
// signature: about 70 bytes) would cost an allocation a push.
func queryKey(key string) [32]byte {
	var b [128]byte
	if len(key) > len(b) {
		return sha256.Sum256([]byte(key))
	}
	return sha256.Sum256(b[:copy(b[:], key)])
}

// saveQuery queues a query string's record to be written behind.
func (s *Bolt) saveQuery(key []byte, body [16]byte, end time.Time, ttl time.Duration) {
	b := &s.queries
	b.mu.Lock()
	b.records = binary.BigEndian.AppendUint64(b.records, uint64(end.UnixMilli()))
	b.records = binary.BigEndian.AppendUint32(b.records, uint32(ttl.Milliseconds()))
	b.records = append(append(b.records, key...), body[:]...)
	b.latest = max(b.latest, end.UnixMilli())
	full := len(b.records) >= answerFlushBytes
	b.mu.Unlock()
	if full {
		s.askFlush()
	}
}

// loadQueries puts the query strings kept from before a restart, those
// still in their window, back into the memory; it returns how many. The
// memory takes its budget first.
func (s *Bolt) loadQueries(now time.Time) (int, error) {
	return s.queryLog.load(now, func(rec []byte) {
		end := int64(binary.BigEndian.Uint64(rec))
		ttl := time.Duration(binary.BigEndian.Uint32(rec[8:])) * time.Millisecond
		if ttl <= 0 || end-now.UnixMilli() > ttl.Milliseconds() {
			return // damage: no window is that long
		}
		s.nonces.RememberBody(string(rec[12:28]), [16]byte(rec[28:44]), now, ttl)
	})
}

// readQuery is the query strings' readRecord.
func readQuery(r *bufio.Reader, buf []byte) ([]byte, int64, error) {
	buf, err := readFull(r, buf[:0], queryRecord)
	if err != nil {
		return buf, 0, err // io.EOF when nothing was left: a clean end
	}
	return buf, int64(binary.BigEndian.Uint64(buf)), nil
}
