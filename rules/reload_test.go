package rules

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/wxbot/wxbot/actions" // the reply action
	"github.com/wxbot/wxbot/engine"
)

// rulesReplying is a rules file whose only rule replies text to "hi".
func rulesReplying(text string) string {
	return fmt.Sprintf(`version: 1
rules:
  - name: hi
    on: text
    text: hi
    actions:
      - reply: {text: %q}
tests:
  - name: hi answers
    event: {type: text, content: hi}
    expect: {rules: [hi]}
`, text)
}

// replyTo runs "hi" through the engine and returns the reply text.
func replyTo(t *testing.T, e *engine.Engine) string {
	t.Helper()
	res, err := e.Dispatch(&engine.Event{Type: "text", Content: "hi"}).Finish(context.Background())
	if err != nil || res.Reply == nil {
		t.Fatalf("no reply: %v", err)
	}
	return res.Reply.Content
}

// watched starts a reloader on path, without the poll, and returns its
// engine once the watch is in place: what the test changes after that is
// seen by the watch alone.
func watched(t *testing.T, path string) (*engine.Engine, *Reloader) {
	t.Helper()
	e, r, run := reloader(t, path)
	run()
	return e, r
}

// reloader makes a reloader on path (debounce 20ms, no poll) for the test
// to configure; run starts it and returns once its watch is in place.
func reloader(t *testing.T, path string) (*engine.Engine, *Reloader, func()) {
	t.Helper()
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	e.SetRules(l.Set)
	r := NewReloader(path, time.UTC, e, nil)
	r.Debounce, r.Poll = 20*time.Millisecond, 0
	r.Initial(l)
	run := func() {
		t.Helper()
		ready := make(chan struct{})
		r.started = func() { close(ready) }
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done; e.Close(context.Background()) })
		select {
		case <-ready:
		case <-done:
			t.Fatal("Run returned before its watch was in place")
		}
	}
	return e, r, run
}

// eventually waits (not a timing assertion: the bound is generous) until
// the engine replies want.
func eventually(t *testing.T, e *engine.Engine, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for replyTo(t, e) != want {
		if time.Now().After(deadline) {
			t.Fatalf("reply is still %q, want %q", replyTo(t, e), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replace replaces the file at path whole, as a rename over it.
func replace(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	write(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestReloadInPlaceWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	write(t, path, rulesReplying("one"))
	e, _ := watched(t, path)
	write(t, path, rulesReplying("two"))
	eventually(t, e, "two")
}

// TestReloadChangeBeforeWatch changes the file after the start-up load but
// before Run adds its watch, so no event is ever raised for it, and there is
// no poll: Run's check once the watch is in place must pick it up.
func TestReloadChangeBeforeWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	write(t, path, rulesReplying("one"))
	e, r, run := reloader(t, path)
	write(t, path, rulesReplying("two"))
	run()
	eventually(t, e, "two")
	if s := r.Status(); !s.LastReloadOK || s.Reloads != 1 {
		t.Errorf("status %+v", s)
	}
}

func TestReloadRenameOnSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, rulesReplying("one"))
	e, _ := watched(t, path)
	// What vim and most editors do: write a new file, rename it over the old.
	tmp := filepath.Join(dir, ".rules.yaml.swp")
	write(t, tmp, rulesReplying("renamed"))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	eventually(t, e, "renamed")
	// And again, to show the watch survived the rename.
	write(t, tmp, rulesReplying("again"))
	os.Rename(tmp, path)
	eventually(t, e, "again")
}

func TestReloadConfigMapSymlinkSwap(t *testing.T) {
	// The layout kubelet makes: rules.yaml -> ..data/rules.yaml, ..data -> ..v1.
	dir := t.TempDir()
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustDo(os.Mkdir(filepath.Join(dir, "..v1"), 0o755))
	write(t, filepath.Join(dir, "..v1", "rules.yaml"), rulesReplying("v1"))
	mustDo(os.Symlink("..v1", filepath.Join(dir, "..data")))
	mustDo(os.Symlink(filepath.Join("..data", "rules.yaml"), filepath.Join(dir, "rules.yaml")))
	e, _ := watched(t, filepath.Join(dir, "rules.yaml"))
	if got := replyTo(t, e); got != "v1" {
		t.Fatalf("reply %q", got)
	}
	// The update: a new version directory, a temporary link, renamed over ..data.
	mustDo(os.Mkdir(filepath.Join(dir, "..v2"), 0o755))
	write(t, filepath.Join(dir, "..v2", "rules.yaml"), rulesReplying("v2"))
	mustDo(os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	mustDo(os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	mustDo(os.RemoveAll(filepath.Join(dir, "..v1")))
	eventually(t, e, "v2")
}

func TestReloadKeepsWorkingRulesOnBrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	write(t, path, rulesReplying("good"))
	e, r := watched(t, path)
	// How many events an edit raises, and so how many reloads it causes, is
	// up to the file system and the debounce: the test asserts the status
	// each edit leads to, not counts. The edits replace the file whole, so
	// that a reload never reads one half-written.

	broken := path + `:4:9: rule "hi": on: unknown event type "txt"`
	replace(t, path, strings.Replace(rulesReplying("bad"), "on: text", "on: txt", 1))
	waitStatus(t, r, func(s Status) bool { return !s.LastReloadOK && strings.Contains(s.LastError, broken) })
	if got := replyTo(t, e); got != "good" {
		t.Errorf("after a broken edit the reply is %q, want the old rules' %q", got, "good")
	}
	if s := r.Status(); s.ReloadFailures < 1 || s.Reloads != 0 || s.LastErrorAt.IsZero() {
		t.Errorf("status after a broken edit %+v", s)
	}

	// A file that loads but fails its own tests is refused too.
	untested := `test "hi answers" failed: rules: got [hi], want []`
	replace(t, path, strings.Replace(rulesReplying("untested"), "expect: {rules: [hi]}", "expect: {rules: []}", 1))
	waitStatus(t, r, func(s Status) bool { return !s.LastReloadOK && strings.Contains(s.LastError, untested) })
	if got := replyTo(t, e); got != "good" {
		t.Errorf("after an edit failing its tests the reply is %q", got)
	}
	if s := r.Status(); s.ReloadFailures < 2 || s.Reloads != 0 {
		t.Errorf("status after an edit failing its tests %+v", s)
	}

	// The fix is picked up.
	replace(t, path, rulesReplying("fixed"))
	eventually(t, e, "fixed")
	waitStatus(t, r, func(s Status) bool { return s.LastReloadOK })
	if s := r.Status(); s.Reloads != 1 || s.LastError != "" || !s.LastErrorAt.IsZero() {
		t.Errorf("status after the fix %+v (a good reload clears the error)", s)
	}
}

func waitStatus(t *testing.T, r *Reloader, ok func(Status) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(r.Status()) {
		if time.Now().After(deadline) {
			t.Fatalf("status never got there: %+v", r.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReloadTriggerAndUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	write(t, path, rulesReplying("one"))
	l, _ := Load(path)
	e := engine.New(engine.Options{})
	e.SetRules(l.Set)
	r := NewReloader(path, time.UTC, e, nil)
	r.Initial(l)
	if err := r.Reload(context.Background(), "test", false); !errors.Is(err, ErrUnchanged) {
		t.Errorf("reload of unchanged rules: %v, want ErrUnchanged", err)
	}
	if err := r.Reload(context.Background(), "POST /reload", true); err != nil {
		t.Errorf("forced reload: %v", err)
	}
	if s := r.Status(); s.Reloads != 1 || !s.LastReloadOK {
		t.Errorf("status %+v", s)
	}
}

// TestReloadUnderLoad swaps rules many times while pushes run: none fails,
// and each push sees one whole rule set (the reply always matches a version).
func TestReloadUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	write(t, path, rulesReplying("v0"))
	l, _ := Load(path)
	e := engine.New(engine.Options{})
	defer e.Close(context.Background())
	e.SetRules(l.Set)
	r := NewReloader(path, time.UTC, e, nil)
	r.Initial(l)

	var failures, pushes atomic.Int64
	stop := make(chan struct{})
	// The reloads start once every worker has made a push: on a busy
	// machine, workers not yet scheduled could otherwise miss them all.
	var wg, started sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				if n == 1 {
					started.Done()
				}
				select {
				case <-stop:
					return
				default:
				}
				res, err := e.Dispatch(&engine.Event{Type: "text", Content: "hi"}).Finish(context.Background())
				pushes.Add(1)
				if err != nil || res.Reply == nil || !strings.HasPrefix(res.Reply.Content, "v") {
					failures.Add(1)
				}
			}
		}()
	}
	started.Wait()
	for i := 1; i <= 50; i++ {
		write(t, path, rulesReplying(fmt.Sprintf("v%d", i)))
		if err := r.Reload(context.Background(), "test", false); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || pushes.Load() == 0 {
		t.Errorf("%d of %d pushes failed during 50 reloads", failures.Load(), pushes.Load())
	}
	if got := replyTo(t, e); got != "v50" {
		t.Errorf("final reply %q", got)
	}
}

// TestReloadPoll leaves the reloader no watch: the poll alone must pick up
// a change.
func TestReloadPoll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	write(t, path, rulesReplying("one"))
	e, r, run := reloader(t, path)
	r.noWatch, r.Poll = true, 10*time.Millisecond
	run()
	write(t, path, rulesReplying("two"))
	eventually(t, e, "two")
	waitStatus(t, r, func(s Status) bool { return s.LastReloadOK && s.Reloads >= 1 })
}

// TestReloadDirectory runs a reloader on a directory, by the watch and by
// the poll alone: adding, changing and removing a *.yaml reloads the files
// merged in name order, and a broken file is refused while the old rules
// keep serving.
func TestReloadDirectory(t *testing.T) {
	for _, mode := range []string{"watch", "poll"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			file := func(name string) string { return filepath.Join(dir, name) }
			// The rule in 20-more.yaml replies with a var of 10-base.yaml: it
			// loads only merged with it.
			write(t, file("10-base.yaml"), "version: 1\nvars: {greeting: base}\nrules:\n"+
				"  - {name: hi, on: text, text: hi, actions: [{reply: {text: '${vars.greeting}'}}]}\n")
			more := "version: 1\nrules:\n  - {name: more, on: text, text: more, actions: [{reply: {text: 'more ${vars.greeting}'}}]}\n"
			write(t, file("README.md"), "not rules")

			e, r, run := reloader(t, dir)
			if mode == "poll" {
				r.noWatch, r.Poll = true, 10*time.Millisecond
			}
			run()
			until(t, "the rules are hi", func() bool { return ruleNames(e) == "hi" })

			write(t, file("20-more.yaml"), more)
			until(t, "20-more.yaml is added", func() bool { return ruleNames(e) == "hi more" })
			if got := answer(e, "more"); got != "more base" {
				t.Errorf(`"more" answers %q, want "more base"`, got)
			}

			write(t, file("05-first.yaml"), "version: 1\nrules:\n  - {name: first, on: text, text: first, actions: [{reply: {text: one}}]}\n")
			until(t, "05-first.yaml is added, first", func() bool { return ruleNames(e) == "first hi more" })

			write(t, file("10-base.yaml"), "version: 1\nvars: {greeting: changed}\nrules:\n"+
				"  - {name: hi, on: text, text: hi, actions: [{reply: {text: '${vars.greeting}'}}]}\n")
			until(t, "10-base.yaml's change", func() bool { return answer(e, "more") == "more changed" })

			if err := os.Remove(file("05-first.yaml")); err != nil {
				t.Fatal(err)
			}
			until(t, "05-first.yaml is removed", func() bool { return ruleNames(e) == "hi more" })
			if s := r.Status(); !s.LastReloadOK || strings.Join(s.Files, " ") != file("10-base.yaml")+" "+file("20-more.yaml") {
				t.Errorf("status %+v", s)
			}

			// A second rule "more" is an error of the merge.
			write(t, file("30-bad.yaml"), more)
			dup := file("30-bad.yaml") + `:3:12: rule "more": name already used at ` + file("20-more.yaml") + ":3:12"
			waitStatus(t, r, func(s Status) bool { return !s.LastReloadOK && strings.Contains(s.LastError, dup) })
			if ruleNames(e) != "hi more" || answer(e, "more") != "more changed" {
				t.Errorf("after a broken file the rules are %q and more answers %q; want the old ones", ruleNames(e), answer(e, "more"))
			}

			write(t, file("30-bad.yaml"), "version: 1\nrules:\n  - {name: last, on: text, text: last, actions: [{reply: {text: '${vars.greeting} last'}}]}\n")
			until(t, "30-bad.yaml is fixed", func() bool { return ruleNames(e) == "hi more last" })
			if got := answer(e, "last"); got != "changed last" {
				t.Errorf(`"last" answers %q`, got)
			}
			waitStatus(t, r, func(s Status) bool { return s.LastReloadOK && len(s.Files) == 3 })
		})
	}
}

// ruleNames are the running rules' names, in order.
func ruleNames(e *engine.Engine) string {
	var names []string
	for _, rule := range e.Rules().Rules {
		names = append(names, rule.Name)
	}
	return strings.Join(names, " ")
}

// answer is the engine's reply text to content, "" for none.
func answer(e *engine.Engine, content string) string {
	res, err := e.Dispatch(&engine.Event{Type: "text", Content: content}).Finish(context.Background())
	if err != nil || res.Reply == nil {
		return ""
	}
	return res.Reply.Content
}

// until waits (the bound is generous) for cond.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
