package bolt

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"time"
)

// The answers WeChat may still retry are kept on disk, so that a retry
// reaching a restarted bot (a deploy, SIGTERM) gets the first reply's
// bytes and runs no rule again.
//
// They go to segments beside the bbolt file (PATH.answers.<start ms>, see
// segLog), not into bbolt: a busy bot answers thousands of pushes a
// second, and a B+tree copy-on-write per half second of answers cost an
// eighth of the bot's CPU, where an append costs next to nothing. They are
// written behind every half second and on Close (SIGTERM), and fsynced on
// Close only: a crashed process loses nothing the kernel has, a crashed
// machine the last moments.
//
// A record: end (Unix ms, 8 bytes big-endian), then push key, content type
// and body, each a uvarint length and the bytes.

// answerSegment is how long a segment takes answers: an idle bot's file
// goes a minute after its answers expire.
const answerSegment = time.Minute

// maxAnswerPart bounds a record's part: a longer one read back is damage
// (a length scribbled over), not a reason to allocate it. No passive
// reply comes near; SaveAnswer keeps none longer.
const maxAnswerPart = 1 << 20

// recordBuffer holds the records not yet written, encoded as they come: a
// record costs its bytes once, with no copy or struct of its own for the
// collector to scan, and two buffers take turns.
type recordBuffer struct {
	mu      sync.Mutex
	records []byte
	latest  int64  // the latest end among them, Unix ms
	spare   []byte // the buffer the last write emptied (the flush goroutine's)
}

// take hands the records to the flush goroutine and starts on the spare
// buffer.
func (b *recordBuffer) take() ([]byte, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, latest := b.records, b.latest
	b.records, b.latest, b.spare = b.spare[:0], 0, nil
	return p, latest
}

// reuse gives back a buffer the flush goroutine wrote; a burst's buffer is
// left to the collector.
func (b *recordBuffer) reuse(p []byte) {
	if cap(p) > maxSpareAnswers {
		return
	}
	b.mu.Lock()
	b.spare = p[:0]
	b.mu.Unlock()
}

// answerFlushBytes is where the records are written without waiting for
// the half-second tick: under load the two buffers then stay about this
// size and are reused, instead of growing (and being copied) to a half
// second's worth of records each time.
const answerFlushBytes = 256 << 10

// maxSpareAnswers bounds the buffer kept for reuse.
const maxSpareAnswers = 1 << 20

// SaveAnswer keeps a push's answer until until. It copies body.
func (s *Bolt) SaveAnswer(key, contentType string, body []byte, until time.Time) {
	if len(key) > maxAnswerPart || len(contentType) > maxAnswerPart || len(body) > maxAnswerPart {
		return // it could not be read back
	}
	b := &s.answers
	b.mu.Lock()
	b.records = binary.BigEndian.AppendUint64(b.records, uint64(until.UnixMilli()))
	b.records = appendPart(b.records, key)
	b.records = appendPart(b.records, contentType)
	b.records = appendPart(b.records, body)
	b.latest = max(b.latest, until.UnixMilli())
	full := len(b.records) >= answerFlushBytes
	b.mu.Unlock()
	if full {
		s.askFlush()
	}
}

// askFlush wakes the flush goroutine: a buffer reached answerFlushBytes.
func (s *Bolt) askFlush() {
	select {
	case s.flushNow <- struct{}{}:
	default: // already asked
	}
}

func appendPart[T string | []byte](b []byte, part T) []byte {
	b = binary.AppendUvarint(b, uint64(len(part)))
	return append(b, part...)
}

// SavedAnswers calls f, oldest first, for every answer still valid at now
// among the newest the retry memory holds (see keepFor), reading them a
// record at a time: a start's memory does not grow with past traffic. body
// is only valid during f. The files no longer needed are removed.
func (s *Bolt) SavedAnswers(now time.Time, f func(key, contentType string, body []byte)) error {
	_, err := s.answerLog.load(now, func(rec []byte) {
		key, ct, body := decodeAnswer(rec)
		f(string(key), internContentType(ct), body)
	})
	return err
}

// writeBehind writes what b holds to l, then gives the buffer back.
func writeBehind(b *recordBuffer, l *segLog, now time.Time) {
	records, latest := b.take()
	if len(records) > 0 {
		l.write(records, latest, now)
	}
	b.reuse(records)
}

// readAnswer is the answers' readRecord.
func readAnswer(r *bufio.Reader, buf []byte) ([]byte, int64, error) {
	buf, err := readFull(r, buf[:0], 8)
	if err != nil {
		return buf, 0, err // io.EOF when nothing was left: a clean end
	}
	end := int64(binary.BigEndian.Uint64(buf))
	for range 3 {
		n, err := binary.ReadUvarint(r)
		switch {
		case errors.Is(err, io.EOF):
			return buf, 0, io.ErrUnexpectedEOF
		case err != nil, n > maxAnswerPart:
			return buf, 0, errDamagedRecord
		}
		buf = binary.AppendUvarint(buf, n)
		if buf, err = readFull(r, buf, int(n)); err != nil {
			return buf, 0, io.ErrUnexpectedEOF
		}
	}
	return buf, end, nil
}

// decodeAnswer splits a record readAnswer read.
func decodeAnswer(rec []byte) (key, contentType, body []byte) {
	v := rec[8:]
	var parts [3][]byte
	for i := range parts {
		n, w := binary.Uvarint(v)
		parts[i], v = v[w:w+int(n)], v[w+int(n):]
	}
	return parts[0], parts[1], parts[2]
}

// answerContentTypes are the content types the dedup cache answers with:
// read back, they cost no string each.
var answerContentTypes = []string{"text/plain; charset=utf-8", "application/xml; charset=utf-8"}

func internContentType(ct []byte) string {
	for _, c := range answerContentTypes {
		if string(ct) == c {
			return c
		}
	}
	return string(ct)
}
