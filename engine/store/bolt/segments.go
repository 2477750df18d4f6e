package bolt

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// What the store keeps beside the bbolt file for a restart (the answers
// kept for retries, the replay window's query strings) are records that
// expire, in append-only files PREFIX.<start, Unix ms>: a busy bot writes
// thousands a second, and an append costs next to nothing where a bbolt
// commit would cost a B+tree copy-on-write.
//
// Neither the files nor a restart may grow with past traffic: only the
// newest records are worth keeping, as many as the memory they are read
// back into holds (its budget: past it, the memory drops the older ones
// anyway), and only while they are valid. So a file (a segment) is closed
// after a while or once it holds a fraction of that, a closed one is
// removed once its records have all expired or newer ones hold the
// budget, and a start reads back, one record at a time, only the newest
// budget's worth, removing the rest.

// segLog is one kind of record's files.
type segLog struct {
	prefix string        // PATH.answers, PATH.APPID.queries
	span   time.Duration // how long a segment takes records
	read   readRecord    // the records' format, for a start

	mu     sync.Mutex // the flush goroutine against a start's read, and tests' Flush
	keep   int64      // bytes of the newest records worth keeping
	f      *os.File   // the open segment, nil when none
	open   segment
	closed []segment // oldest first
}

// segment is one file's name, when it started, its size and the latest
// end of its records (Unix ms).
type segment struct {
	name    string
	started time.Time
	size    int64
	latest  int64
}

// readRecord reads the next record from r, whole, into buf (grown as
// needed), and returns it and when it ends (Unix ms). It returns io.EOF at
// a clean end, and another error at a torn or damaged tail.
type readRecord func(r *bufio.Reader, buf []byte) (rec []byte, end int64, err error)

// errDamagedRecord is a record that cannot be one the store wrote: a part
// longer than any it writes, an end too far ahead.
var errDamagedRecord = errors.New("damaged record")

// maxRecordLife bounds how far ahead a record's end may be: further, it
// is damage, which must not keep its file for good.
const maxRecordLife = 7 * 24 * time.Hour

// minSegment is the smallest size at which a segment is closed: a small
// budget (a fleet's accounts share theirs) must not mean a file a push.
const minSegment = 64 << 10

// segmentBytes is the size at which a segment is closed: a quarter of the
// budget, so that the files hold at most about 1.5 times it (the budget,
// the oldest segment, which goes once the newer ones hold the budget, and
// the one being written).
func (l *segLog) segmentBytes() int64 { return max(l.keep/4, minSegment) }

// write appends records ending at latest at the latest (Unix ms), starting
// a new segment when the open one is old or full, and removes the closed
// ones no longer needed. A failure leaves the records in memory only: a
// restart misses them, nothing else does.
func (l *segLog) write(records []byte, latest int64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil && (now.Sub(l.open.started) >= l.span || l.open.size >= l.segmentBytes()) {
		l.closeOpen(false)
	}
	if len(records) == 0 {
		l.prune(now)
		return
	}
	if l.f == nil {
		l.prune(now)
		if err := l.create(now); err != nil {
			return
		}
	}
	n, _ := l.f.Write(records)
	l.open.size += int64(n)
	l.open.latest = max(l.open.latest, latest)
}

// create opens a new segment named after now (or the next free
// millisecond: a clock that stands still, in tests, or a quick rotation).
func (l *segLog) create(now time.Time) error {
	for ms := now.UnixMilli(); ; ms++ {
		name := l.prefix + "." + strconv.FormatInt(ms, 10)
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
		if errors.Is(err, fs.ErrExist) && ms < now.UnixMilli()+1000 {
			continue
		}
		if err != nil {
			return err
		}
		l.f, l.open = f, segment{name: name, started: now}
		return nil
	}
}

// tick closes a segment that has been open its span and removes what
// expired: a bot that falls idle keeps no file longer than its records.
func (l *segLog) tick(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil && now.Sub(l.open.started) >= l.span {
		l.closeOpen(false)
	}
	l.prune(now)
}

// close closes the open segment, with an fsync when sync is set (Close: a
// clean shutdown).
func (l *segLog) close(sync bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeOpen(sync)
}

func (l *segLog) closeOpen(sync bool) {
	if l.f == nil {
		return
	}
	if sync {
		l.f.Sync()
	}
	l.f.Close()
	l.f = nil
	l.closed = append(l.closed, l.open)
}

// prune removes the closed segments whose records have all expired, and
// the oldest while the newer ones hold the budget. l is locked.
func (l *segLog) prune(now time.Time) {
	total := l.open.size
	if l.f == nil {
		total = 0
	}
	for _, sg := range l.closed {
		total += sg.size
	}
	l.closed = slices.DeleteFunc(l.closed, func(sg segment) bool { // oldest first
		drop := sg.latest <= now.UnixMilli() || total-sg.size >= l.keep
		if drop && removeSegment(sg.name) {
			total -= sg.size
			return true
		}
		return false
	})
}

// removeSegment removes a file; it reports whether it is gone.
func removeSegment(name string) bool {
	err := os.Remove(name)
	return err == nil || errors.Is(err, fs.ErrNotExist)
}

// setKeep sets the bytes of the newest records worth keeping: as many as
// the memory they are read back into holds (see keepFor).
func (l *segLog) setKeep(n int64) {
	l.mu.Lock()
	l.keep = n
	l.mu.Unlock()
}

// keepFor is what a log keeps for a memory of budget bytes: a record on
// disk costs about what it costs in memory (the answers' index, the
// replay window's slots at most 3/4 full), and the memory holds at most
// its budget; a half more is room for the difference.
func keepFor(budget int) int64 { return int64(budget) * 3 / 2 }

// load reads the records back at a start, oldest first, and calls use
// with each still valid at now among the newest keep bytes (rec is only
// valid during the call). It removes the files it does not need, keeps the
// others as closed segments, and returns how many records it used. A torn
// or damaged tail ends a file's records; a file it cannot read is left
// as it is and reported.
func (l *segLog) load(now time.Time, use func(rec []byte)) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := l.keep
	files, err := l.list()
	if err != nil {
		return 0, err
	}
	// The newest files that hold the budget; the older ones go unread.
	from, total := len(files), int64(0)
	for from > 0 && total < keep {
		from--
		total += files[from].size
	}
	for _, sg := range files[:from] {
		removeSegment(sg.name)
	}
	l.closed = l.closed[:0]
	ld := &loader{l: l, skip: total - keep, now: now, use: use}
	var errs []error
	for _, sg := range files[from:] {
		err := ld.segment(&sg)
		switch {
		case err != nil:
			errs = append(errs, err)
		case sg.latest <= now.UnixMilli() || sg.size == 0:
			removeSegment(sg.name)
		default:
			l.closed = append(l.closed, sg)
		}
	}
	return ld.used, errors.Join(errs...)
}

// loader is a start's read of one log's files.
type loader struct {
	l    *segLog
	r    *bufio.Reader
	buf  []byte
	skip int64 // the bytes still to pass over unused: past the budget
	now  time.Time
	use  func(rec []byte)
	used int
}

// segment reads one file for load, setting its latest end. A file mostly
// past the budget (one a larger budget or an older wxbot wrote) is
// written again with only the records used: the disk shrinks at once.
func (ld *loader) segment(sg *segment) error {
	f, err := os.Open(sg.name)
	if err != nil {
		return fmt.Errorf("reading %s: %w (remove it if it stays unreadable: it only helps a restart)", sg.name, err)
	}
	var rw *rewrite
	if ld.skip > ld.l.segmentBytes() {
		rw = startRewrite(sg.name)
	}
	if ld.r == nil {
		ld.r = bufio.NewReaderSize(f, 32<<10) // made only when there is a file to read: a fleet has many logs
	}
	ld.r.Reset(f)
	err = ld.records(sg, rw)
	f.Close()
	if rw != nil && rw.finish(sg.name, err) {
		sg.size, sg.latest = rw.n, rw.latest
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w (remove it if it stays unreadable: it only helps a restart)", sg.name, err)
	}
	return nil
}

// records reads a file's records, using those past skip and still valid.
// A torn or damaged tail (a crash mid-write, a scribble) ends the file:
// what came before stands.
func (ld *loader) records(sg *segment, rw *rewrite) error {
	for {
		rec, end, err := ld.l.read(ld.r, ld.buf)
		if err == nil && end > ld.now.Add(maxRecordLife).UnixMilli() {
			err = errDamagedRecord
		}
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errDamagedRecord):
			return nil
		case err != nil:
			return err
		}
		ld.buf = rec[:0]
		sg.latest = max(sg.latest, end)
		if ld.skip > 0 {
			ld.skip -= int64(len(rec))
			continue
		}
		if end > ld.now.UnixMilli() {
			ld.use(rec)
			ld.used++
			rw.add(rec, end)
		}
	}
}

// rewrite is a file written again with what a start kept of it, in
// NAME.tmp renamed over it once complete: a crash midway leaves the file
// as it was, and a .tmp the next start removes.
type rewrite struct {
	f      *os.File
	w      *bufio.Writer
	n      int64 // bytes written
	latest int64 // the latest end written
	err    error
}

// startRewrite starts writing name again; nil when it cannot (the file is
// then kept as it is).
func startRewrite(name string) *rewrite {
	f, err := os.OpenFile(name+".tmp", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil
	}
	return &rewrite{f: f, w: bufio.NewWriterSize(f, 32<<10)}
}

func (rw *rewrite) add(rec []byte, end int64) {
	if rw != nil && rw.err == nil {
		n, err := rw.w.Write(rec)
		rw.n, rw.latest, rw.err = rw.n+int64(n), max(rw.latest, end), err
	}
}

// finish replaces name with what was written, unless reading it failed
// (readErr) or writing did; it reports whether it did.
func (rw *rewrite) finish(name string, readErr error) bool {
	err := errors.Join(readErr, rw.err, rw.w.Flush(), rw.f.Sync(), rw.f.Close())
	if err == nil {
		err = os.Rename(name+".tmp", name)
	}
	if err != nil {
		os.Remove(name + ".tmp")
	}
	return err == nil
}

// list returns the segments on disk, oldest first, but the open one. It
// matches the names itself: a glob would read a path's [ or * as a
// pattern.
func (l *segLog) list() ([]segment, error) {
	dir, base := filepath.Split(l.prefix + ".")
	d, err := os.Open(cmp.Or(dir, "."))
	if err != nil {
		return nil, fmt.Errorf("listing %s*: %w", l.prefix+".", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("listing %s*: %w", l.prefix+".", err)
	}
	var files []segment
	for _, n := range names {
		suffix, ok := strings.CutPrefix(n, base)
		name := dir + n
		if ok && strings.HasSuffix(suffix, ".tmp") {
			os.Remove(name) // a rewrite a crash interrupted: the file it was for stands
			continue
		}
		ms, err := strconv.ParseInt(suffix, 10, 64)
		if !ok || err != nil || (l.f != nil && name == l.open.name) {
			continue // not a segment of this log, or the one being written
		}
		fi, err := os.Stat(name)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		files = append(files, segment{name: name, started: time.UnixMilli(ms), size: fi.Size()})
	}
	slices.SortFunc(files, func(a, b segment) int { return cmp.Compare(a.started.UnixMilli(), b.started.UnixMilli()) })
	return files, nil
}

// readFull reads n bytes more onto buf.
func readFull(r *bufio.Reader, buf []byte, n int) ([]byte, error) {
	buf = slices.Grow(buf, n)
	_, err := io.ReadFull(r, buf[len(buf):len(buf)+n])
	return buf[:len(buf)+n], err
}
