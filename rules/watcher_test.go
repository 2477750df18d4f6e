package rules

import (
	"path/filepath"
	"testing"
)

// TestSharedWatcher: reloaders sharing one Watcher (one inotify instance,
// as the accounts of one process do) each reload on their own file's
// change, and only on it.
func TestSharedWatcher(t *testing.T) {
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	write(t, a, rulesReplying("a1"))
	write(t, b, rulesReplying("b1"))
	ea, ra, runA := reloader(t, a)
	eb, rb, runB := reloader(t, b)
	ra.Watcher, rb.Watcher = w, w
	runA()
	runB()
	replace(t, a, rulesReplying("a2"))
	eventually(t, ea, "a2")
	if got := replyTo(t, eb); got != "b1" {
		t.Errorf("b reloaded on a's change: %q", got)
	}
	replace(t, b, rulesReplying("b2"))
	eventually(t, eb, "b2")
	if st := rb.Status(); st.Reloads != 1 {
		t.Errorf("b reloaded %d times, want once", st.Reloads)
	}
}
