package rules

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine"
)

// countErrors is a slog handler counting error records.
type countErrors struct{ n atomic.Int32 }

func (c *countErrors) Enabled(context.Context, slog.Level) bool { return true }
func (c *countErrors) Handle(_ context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelError {
		c.n.Add(1)
	}
	return nil
}
func (c *countErrors) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countErrors) WithGroup(string) slog.Handler      { return c }

// TestReloadStatusTruth runs reloads one by one, as the poll and the
// watcher do (no timing involved): the same broken files are parsed,
// logged and counted once however often they are polled (a forced reload,
// which an operator asked for, tries again); and GET /rules's last_error
// is the error of the files now refused, cleared by any good reload and
// by a revert to the running rules.
func TestReloadStatusTruth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	good, other := rulesReplying("good"), rulesReplying("other")
	broken := strings.Replace(rulesReplying("bad"), "on: text", "on: txt", 1)
	write(t, path, good)
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	defer e.Close(context.Background())
	e.SetRules(l.Set)
	logs := &countErrors{}
	r := NewReloader(path, time.UTC, e, slog.New(logs))
	r.Initial(l)
	steps := []struct {
		name      string
		file      string // written before the reload
		force     bool
		wantErr   bool
		unchanged bool
		failures  uint64
		logged    int32 // error lines so far
		reply     string
	}{
		{"a broken edit", broken, false, true, false, 1, 1, "good"},
		{"polled again", broken, false, true, false, 1, 1, "good"},
		{"and again", broken, false, true, false, 1, 1, "good"},
		{"forced by an operator", broken, true, true, false, 2, 2, "good"},
		{"polled after the force", broken, false, true, false, 2, 2, "good"},
		{"fixed with new rules", other, false, false, false, 2, 2, "other"},
		{"broken again", broken, false, true, false, 3, 3, "other"},
		{"reverted to the running rules", other, false, false, true, 3, 3, "other"},
		{"broken once more, after the revert", broken, false, true, false, 4, 4, "other"},
	}
	for _, st := range steps {
		write(t, path, st.file)
		err := r.Reload(context.Background(), "poll", st.force)
		s := r.Status()
		switch {
		case st.unchanged && !errors.Is(err, ErrUnchanged), !st.unchanged && (err != nil) != st.wantErr:
			t.Errorf("%s: Reload = %v, want error %v", st.name, err, st.wantErr)
		case s.ReloadFailures != st.failures || logs.n.Load() != st.logged:
			t.Errorf("%s: %d failures counted, %d logged; want %d and %d", st.name, s.ReloadFailures, logs.n.Load(), st.failures, st.logged)
		case s.LastReloadOK == st.wantErr || (s.LastError != "") != st.wantErr || s.LastErrorAt.IsZero() == st.wantErr:
			t.Errorf("%s: status ok=%v last_error=%q at %v, want the error shown iff the files on disk are refused", st.name, s.LastReloadOK, s.LastError, s.LastErrorAt)
		}
		if got := replyTo(t, e); got != st.reply {
			t.Errorf("%s: reply %q, want %q", st.name, got, st.reply)
		}
	}
}
