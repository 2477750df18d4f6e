package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The answers WeChat may still retry are kept on disk, so that a retry
// reaching a restarted bot (a deploy, SIGTERM) gets the first reply's
// bytes and runs no rule again.
//
// They go to plain append-only files beside the bbolt file (PATH.answers.
// <start ms>), not into bbolt: a busy bot answers thousands of pushes a
// second, and a B+tree copy-on-write per half second of answers cost an
// eighth of the bot's CPU, where an append costs next to nothing. They are
// written behind every half second and on Close (SIGTERM), and fsynced on
// Close only: a crashed process loses nothing the kernel has, a crashed
// machine the last moments. A new file starts every answerSegment, and a
// file is removed once every answer in it has expired.
//
// A record: end (Unix ms, 8 bytes big-endian), then push key, content type
// and body, each a uvarint length and the bytes.

const answerSegment = time.Minute

// answerBuffer holds the records of the answers not yet written, encoded
// as they come: an answer costs its bytes once, with no copy or struct of
// its own for the collector to scan, and two buffers take turns.
type answerBuffer struct {
	pendingAnswers
	spare []byte // the buffer the last write emptied (the flush goroutine's)
}

// pendingAnswers are encoded records, as one flush writes them.
type pendingAnswers struct {
	records []byte
	latest  time.Time // the latest end among them
}

// take hands the records to the flush goroutine and starts on the spare
// buffer. The store is locked.
func (b *answerBuffer) take() pendingAnswers {
	p := b.pendingAnswers
	b.pendingAnswers, b.spare = pendingAnswers{records: b.spare[:0]}, nil
	return p
}

// answerFlushBytes is where the answers are written without waiting for
// the half-second tick: under load the two buffers then stay about this
// size and are reused, instead of growing (and being copied) to a half
// second's worth of answers each time.
const answerFlushBytes = 256 << 10

// maxSpareAnswers bounds the buffer kept for reuse: a burst's buffer is
// left to the collector.
const maxSpareAnswers = 1 << 20

// answerLog is the open segment.
type answerLog struct {
	f       *os.File
	started time.Time
	latest  time.Time // the latest end in it
}

// SaveAnswer keeps a push's answer until until. It copies body.
func (s *Bolt) SaveAnswer(key, contentType string, body []byte, until time.Time) {
	s.mu.Lock()
	b := &s.answers
	b.records = binary.BigEndian.AppendUint64(b.records, uint64(until.UnixMilli()))
	b.records = appendPart(b.records, key)
	b.records = appendPart(b.records, contentType)
	b.records = appendPart(b.records, body)
	if until.After(b.latest) {
		b.latest = until
	}
	full := len(b.records) >= answerFlushBytes
	s.mu.Unlock()
	if full {
		select {
		case s.flushNow <- struct{}{}:
		default: // already asked
		}
	}
}

func appendPart[T string | []byte](b []byte, part T) []byte {
	b = binary.AppendUvarint(b, uint64(len(part)))
	return append(b, part...)
}

// SavedAnswers calls f for every answer still valid at now.
func (s *Bolt) SavedAnswers(now time.Time, f func(key, contentType string, body []byte)) error {
	files, err := filepath.Glob(s.files + ".answers.*")
	if err != nil {
		return err
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("reading the kept answers: %w", err)
		}
		eachAnswer(data, func(until int64, key, ct, body []byte) {
			if until > now.UnixMilli() {
				f(string(key), string(ct), bytes.Clone(body))
			}
		})
	}
	return nil
}

// writeAnswers appends the pending records to the open segment, starting
// a new one every answerSegment and removing those whose answers have all
// expired; the emptied buffer goes back for reuse.
func (s *Bolt) writeAnswers(p pendingAnswers, now time.Time) {
	defer func() {
		if cap(p.records) <= maxSpareAnswers {
			s.mu.Lock()
			s.answers.spare = p.records[:0]
			s.mu.Unlock()
		}
	}()
	log := &s.answerLog
	if log.f == nil || now.Sub(log.started) >= answerSegment {
		s.closeAnswers(false)
		s.pruneAnswers(now)
		if len(p.records) == 0 {
			return
		}
		f, err := os.OpenFile(fmt.Sprintf("%s.answers.%d", s.files, now.UnixMilli()), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return // the answers stay in memory; only a restart would miss them
		}
		log.f, log.started, log.latest = f, now, time.Time{}
	}
	if len(p.records) == 0 {
		return
	}
	log.f.Write(p.records)
	if p.latest.After(log.latest) {
		log.latest = p.latest
	}
}

// closeAnswers closes the open segment, with an fsync when sync is set
// (Close: a clean shutdown).
func (s *Bolt) closeAnswers(sync bool) {
	if f := s.answerLog.f; f != nil {
		if sync {
			f.Sync()
		}
		f.Close()
		s.answerLog.f = nil
	}
}

// pruneAnswers removes the closed segments all of whose answers expired:
// a segment started at t holds answers ending before t + answerSegment +
// the longest answer's life, which a minute more covers.
func (s *Bolt) pruneAnswers(now time.Time) {
	files, _ := filepath.Glob(s.files + ".answers.*")
	sort.Strings(files)
	for _, name := range files {
		ms, err := strconv.ParseInt(name[strings.LastIndexByte(name, '.')+1:], 10, 64)
		if err == nil && now.Sub(time.UnixMilli(ms)) > 2*answerSegment+time.Minute {
			os.Remove(name)
		}
	}
}

// eachAnswer decodes records; a torn tail (a crash mid-write) is ignored.
func eachAnswer(v []byte, f func(until int64, key, ct, body []byte)) {
	for len(v) >= 8 {
		until := int64(binary.BigEndian.Uint64(v))
		v = v[8:]
		var parts [3][]byte
		for i := range parts {
			n, w := binary.Uvarint(v)
			if w <= 0 || uint64(len(v)-w) < n {
				return
			}
			parts[i], v = v[w:w+int(n)], v[w+int(n):]
		}
		f(until, parts[0], parts[1], parts[2])
	}
}
