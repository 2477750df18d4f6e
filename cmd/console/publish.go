package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

// checkResult is what Test shows and what Publish requires: no problems.
type checkResult struct {
	Problems       []string // each a reason the change is refused
	Tests          []testLine
	Passed, Failed int
	Keys, Answered int // menu keys, and those a rule answers
	console, menu  []byte
	ConsoleChanged bool
	MenuChanged    bool
}

type testLine struct {
	Name, Pos string
	Failures  []string
}

// OK reports whether the change may be published.
func (c *checkResult) OK() bool { return len(c.Problems) == 0 }

// check builds the files of d and runs them through what a reload runs:
// the whole rules directory with the new console.yaml loads, every rule's
// tests pass (the operators' and the console's own), the menu is within
// WeChat's limits and every one of its keys is answered.
func (s *scope) check(ctx context.Context, d *draft, disk *onDisk) *checkResult {
	res := &checkResult{Problems: d.problems(s.lang, disk.menuOwned)}
	res.Problems = append(res.Problems, s.operatorWords(d)...)
	var err error
	if res.console, err = d.consoleYAML(); err != nil {
		res.Problems = append(res.Problems, err.Error())
		return res
	}
	own := len(res.Problems) // the console's own words say it best: the loader's follow-ups are noise
	res.ConsoleChanged = !sameAsDisk(res.console, disk.console, d.empty())
	if disk.menuOwned && (len(d.Menu.Buttons) > 0 || disk.menu != nil) {
		if res.menu, err = d.menuYAML(); err != nil {
			res.Problems = append(res.Problems, err.Error())
			return res
		}
		res.MenuChanged = !bytes.Equal(res.menu, disk.menu)
		if res.MenuChanged {
			for _, e := range d.Menu.Validate() {
				res.Problems = append(res.Problems, s.t("p.menu", e.Error()))
			}
		}
	}
	if own > 0 {
		return res
	}
	loaded, err := rules.LoadReplacing(s.a.Rules, ConsoleFile, res.console)
	if err != nil {
		var re *rules.Error
		if errors.As(err, &re) {
			for _, dg := range re.Diags.Errors() {
				res.Problems = append(res.Problems, s.t("p.load", s.relative(dg.String())))
			}
		} else {
			res.Problems = append(res.Problems, s.t("p.load", s.relative(err.Error())))
		}
		return res
	}
	taken := s.operatorsFirst(ctx, d, loaded.Set)
	res.Problems = append(res.Problems, taken...)
	for _, t := range loaded.RunTests(ctx, s.cfg.Location) {
		line := testLine{Name: t.Case.Name, Pos: fmt.Sprintf("%s:%d", filepath.Base(t.Case.Pos.File), t.Case.Pos.Line), Failures: t.Failures}
		res.Tests = append(res.Tests, line)
		if t.Passed() {
			res.Passed++
			continue
		}
		res.Failed++
		if len(taken) > 0 && filepath.Base(t.Case.Pos.File) == ConsoleFile {
			continue // the console's own test of a word taken: said above, in the marketer's terms
		}
		res.Problems = append(res.Problems, s.t("p.test", s.relative(t.String())))
	}
	for _, b := range keyButtons(&d.Menu) {
		if !disk.menuOwned {
			break // an operator's menu: its keys are the operator's to answer
		}
		res.Keys++
		if rules.KeyAnswered(loaded.Set, b.Event, b.Key) {
			res.Answered++
			continue
		}
		res.Problems = append(res.Problems, s.t("p.unanswered", b.Name, b.Key, b.Event, b.Key))
	}
	return res
}

// operatorWords refuses a keyword an operator's rule answers by its text
// gate, and a menu key one names in its key: the operators' rules with a
// condition come first, whatever their files are called
// (rules.placeConsole), so the console's reply would never be seen.
func (s *scope) operatorWords(d *draft) []string {
	var out []string
	ops := s.operatorRules()
	for i, k := range d.Keywords {
		for _, w := range k.Words {
			for _, r := range ops {
				if r.Disabled || !r.Answers("text") || r.Text.IsZero() || !r.Text.Match(w, engine.NormalizeText(w)) {
					continue
				}
				out = append(out, s.t("p.operatorWord", s.t("p.keyword", i+1), w, r.Name, filepath.Base(r.Pos.File), r.Pos.Line))
				break
			}
		}
	}
	for _, b := range keyButtons(&d.Menu) {
		if d.Replies[b.Key].Kind == "" {
			continue // no reply from the console: the key is the operators'
		}
		for _, r := range ops {
			if !r.Disabled && r.Answers(b.Event) && slices.Contains(r.Keys, b.Key) {
				out = append(out, s.t("p.operatorKey", s.t("p.button", b.Name), b.Key, r.Name, filepath.Base(r.Pos.File), r.Pos.Line))
				break
			}
		}
	}
	return out
}

// operatorsFirst refuses a keyword or a menu key that an operator's rule
// answers before the console's, found by answering it with the rules as
// they would be (offline): an operator's key: for the same key, and the
// overlaps operatorWords cannot see, such as an operator's when: on the
// content, in the marketer's terms rather than as the console's own test
// failing. It answers at the present time, so operatorWords stays first:
// a word an operator's rule takes only in its active: window is refused
// whatever the hour of the publish.
func (s *scope) operatorsFirst(ctx context.Context, d *draft, set *engine.RuleSet) []string {
	e := engine.New(engine.Options{Location: s.cfg.Location, Now: s.now, DryRun: true})
	defer e.Close(context.Background())
	e.SetRules(set)
	// taken is the operator's rule that answers ev instead of the console's.
	taken := func(ev *engine.Event) *engine.Rule {
		ev.From = "oConsoleCheck"
		res, err := e.Dispatch(ev).Finish(ctx)
		if err != nil || len(res.Rules) == 0 || slices.ContainsFunc(res.Rules, isConsoleRule) {
			return nil
		}
		return res.Rules[0]
	}
	var out []string
	for i, k := range d.Keywords {
		for _, w := range k.Words {
			if r := taken(&engine.Event{Type: "text", Content: w}); r != nil {
				out = append(out, s.t("p.operatorWord", s.t("p.keyword", i+1), w, r.Name, filepath.Base(r.Pos.File), r.Pos.Line))
			}
		}
	}
	for _, b := range keyButtons(&d.Menu) {
		if d.Replies[b.Key].Kind == "" {
			continue // no reply from the console: the key is the operators'
		}
		if r := taken(&engine.Event{Type: b.Event, Key: b.Key}); r != nil {
			out = append(out, s.t("p.operatorKey", s.t("p.button", b.Name), b.Key, r.Name, filepath.Base(r.Pos.File), r.Pos.Line))
		}
	}
	return out
}

func isConsoleRule(r *engine.Rule) bool { return filepath.Base(r.Pos.File) == ConsoleFile }

// relative drops the rules directory from the positions in msg: the
// marketer knows the files by name, and the server's paths are not theirs.
func (s *scope) relative(msg string) string {
	return strings.ReplaceAll(msg, s.a.dir+string(filepath.Separator), "")
}

func (d *draft) empty() bool { return len(d.Replies) == 0 && len(d.Keywords) == 0 }

// errConflict is a publish that did not start from the files on disk.
var errConflict = errors.New("conflict")

// published is what a publish did.
type published struct {
	Check      *checkResult
	MenuPushed bool
	Note       string // a part that did not happen, and why
}

// publish writes d's files, through the check, reloads the rules and,
// once they are live, pushes the menu. On any refusal nothing is written
// and WeChat's menu is not touched.
func (s *scope) publish(ctx context.Context, d *draft, user string) (*published, error) {
	s.a.pub.mu.Lock()
	defer s.a.pub.mu.Unlock()
	disk, err := readOnDisk(s.a.dir)
	if err != nil {
		return nil, err
	}
	if disk.version != d.Base {
		return nil, errConflict
	}
	res := s.check(ctx, d, disk)
	out := &published{Check: res}
	if !res.OK() {
		return out, nil
	}
	retry := s.a.pub.pushPending && disk.menuOwned && disk.menu != nil // WeChat refused the menu last time
	if !res.ConsoleChanged && !res.MenuChanged && !retry {
		out.Note = "nothing to publish: the draft is what is live"
		return out, nil
	}
	if res.ConsoleChanged || res.MenuChanged {
		if err := s.write(ctx, user, disk, res); err != nil {
			return out, err
		}
		if !res.OK() {
			return out, nil
		}
	}
	if res.MenuChanged || retry {
		s.pushMenu(ctx, user, &d.Menu, out)
	}
	s.audit(user, disk, res, out)
	return out, nil
}

// write writes the change and reloads the bot; when the bot refuses the
// new rules (an operator's file changed meanwhile), the files are put back
// and res says why.
func (s *scope) write(ctx context.Context, user string, disk *onDisk, res *checkResult) error {
	consolePath, menuPath := filepath.Join(s.a.dir, ConsoleFile), filepath.Join(s.a.dir, MenuFile)
	if err := writeFile(consolePath, res.console); err != nil {
		return err
	}
	if res.MenuChanged {
		if err := writeFile(menuPath, res.menu); err != nil {
			writeFile(consolePath, disk.console)
			return err
		}
	}
	err := s.a.Reloader.Reload(ctx, "console publish by "+user, false)
	if err == nil || errors.Is(err, rules.ErrUnchanged) {
		return nil
	}
	writeFile(consolePath, disk.console)
	if res.MenuChanged {
		writeFile(menuPath, disk.menu)
	}
	s.a.Reloader.Reload(ctx, "console publish undone", false)
	res.Problems = append(res.Problems, s.t("publish.botRefused", s.relative(err.Error())))
	return nil
}

// pushMenu pushes the menu once its rules are live. A refusal is kept, so
// that the next Publish pushes again even with nothing else to publish.
func (s *scope) pushMenu(ctx context.Context, user string, m *wechat.Menu, out *published) {
	if s.a.Menu == nil {
		out.Note = s.t("publish.noAPI")
		return
	}
	if err := s.a.Menu.MenuCreate(ctx, m); err != nil {
		s.a.pub.pushPending = true
		out.Note = s.t("publish.pushFail", err.Error())
		s.log.Error("console: pushing the menu failed", "user", user, "err", err)
		return
	}
	s.a.pub.pushPending = false
	out.MenuPushed = true
}

// auditEntry is one line of console-audit.log: who published what, when.
type auditEntry struct {
	At         time.Time `json:"at"`
	User       string    `json:"user"`
	MenuPushed bool      `json:"menu_pushed"`
	Note       string    `json:"note,omitempty"`
	Diff       string    `json:"diff"`
}

func (s *scope) audit(user string, disk *onDisk, res *checkResult, out *published) {
	var diff strings.Builder
	if res.ConsoleChanged {
		fmt.Fprintf(&diff, "--- %s\n%s", ConsoleFile, diffLines(string(disk.console), string(res.console), 2))
	}
	if res.MenuChanged {
		fmt.Fprintf(&diff, "--- %s\n%s", MenuFile, diffLines(string(disk.menu), string(res.menu), 2))
	}
	e := auditEntry{At: s.now(), User: user, MenuPushed: out.MenuPushed, Note: out.Note, Diff: diff.String()}
	s.log.Info("console publish", "user", user, "menu_pushed", out.MenuPushed, "note", out.Note, "diff", e.Diff)
	line, _ := json.Marshal(e)
	f, err := os.OpenFile(filepath.Join(s.a.dir, AuditFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		_, err = f.Write(append(line, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		s.log.Error("console: writing the audit log failed; the publish is in the bot's log", "err", err)
	}
}

// recentPublishes reads the last n entries of the audit log, newest first.
func (s *scope) recentPublishes(n int) []auditEntry {
	f, err := os.Open(filepath.Join(s.a.dir, AuditFile))
	if err != nil {
		return nil
	}
	defer f.Close()
	var all []auditEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e auditEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			all = append(all, e)
			if len(all) > n {
				all = all[1:]
			}
		}
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}
