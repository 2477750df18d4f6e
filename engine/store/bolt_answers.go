package store

import (
	"bufio"
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

type savedAnswer struct {
	key, contentType string
	body             []byte
	until            time.Time
}

// answerLog is the open segment.
type answerLog struct {
	f       *os.File
	started time.Time
	latest  time.Time // the latest end in it
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
	files, err := filepath.Glob(s.path + ".answers.*")
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

// writeAnswers appends answers to the open segment, starting a new one
// every answerSegment and removing those whose answers have all expired.
func (s *Bolt) writeAnswers(answers []savedAnswer, now time.Time) {
	log := &s.answerLog
	if log.f == nil || now.Sub(log.started) >= answerSegment {
		s.closeAnswers(false)
		s.pruneAnswers(now)
		if len(answers) == 0 {
			return
		}
		f, err := os.OpenFile(fmt.Sprintf("%s.answers.%d", s.path, now.UnixMilli()), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return // the answers stay in memory; only a restart would miss them
		}
		log.f, log.started, log.latest = f, now, time.Time{}
	}
	w := bufio.NewWriterSize(log.f, 64<<10)
	var buf []byte
	for _, a := range answers {
		buf = binary.BigEndian.AppendUint64(buf[:0], uint64(a.until.UnixMilli()))
		for _, part := range [3][]byte{[]byte(a.key), []byte(a.contentType), a.body} {
			buf = binary.AppendUvarint(buf, uint64(len(part)))
			buf = append(buf, part...)
		}
		w.Write(buf)
		if a.until.After(log.latest) {
			log.latest = a.until
		}
	}
	w.Flush()
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
	files, _ := filepath.Glob(s.path + ".answers.*")
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
