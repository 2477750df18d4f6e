package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

// editView is what the menu and keywords pages share: the draft, the
// state of the files, and the last Test or Publish.
type editView struct {
	MenuOwned   bool
	WhyReadOnly string
	Dirty       bool
	Check       *checkResult
	Published   *published
	Draft       *draft
	Buttons     []buttonView
	CanAdd      bool
	Keywords    []keywordView
	MenuReplies int
}

type buttonView struct {
	Path       string
	B          wechat.Button
	Parent     bool
	Subs       []buttonView
	CanAddSub  bool
	MaxBytes   int
	Keyed      bool // a tap reaches the bot with the key
	Reply      Reply
	Editor     *replyView // Reply's editor, when Keyed
	AnsweredBy string     // an operator's rule that answers the key
	First      bool
	Last       bool
}

type keywordView struct {
	Path  string
	K     Keyword
	Words string
	First bool
	Last  bool
	Hits  uint64
	// Editor is the reply's editor.
	Editor *replyView
}

// sessionDraft is the session's draft, read from disk when it has none.
// The caller gets a copy to change and hands it back with keep.
func (s *scope) sessionDraft(se *session) (*draft, *onDisk, error) {
	disk, err := readOnDisk(s.a.dir)
	if err != nil {
		return nil, nil, err
	}
	var d *draft
	s.sessions.with(func() {
		if w := se.ws(s.a.Name); w.draft != nil {
			d = w.draft.clone()
		}
	})
	if d == nil {
		if d, err = disk.draft(); err != nil {
			return nil, disk, err
		}
	}
	return d, disk, nil
}

func (s *scope) keep(se *session, d *draft) {
	s.sessions.with(func() { se.ws(s.a.Name).draft = d })
}

// operatorRules are the running rules outside console.yaml.
func (s *scope) operatorRules() []*engine.Rule {
	var out []*engine.Rule
	for _, r := range s.a.Engine.Rules().Rules {
		if filepath.Base(r.Pos.File) != ConsoleFile {
			out = append(out, r)
		}
	}
	return out
}

func (s *scope) view(d *draft, disk *onDisk) *editView {
	v := &editView{MenuOwned: disk.menuOwned && s.a.editable == "", Draft: d, CanAdd: len(d.Menu.Buttons) < wechat.MenuMaxButtons}
	if !disk.menuOwned {
		v.WhyReadOnly = s.t("menu.operators", MenuFile, MenuFile, MenuHeader)
	}
	ops := s.operatorRules()
	leaf := func(b wechat.Button, path string, maxBytes int, first, last bool) buttonView {
		bv := buttonView{Path: path, B: b, MaxBytes: maxBytes, First: first, Last: last}
		if ev := wechat.ButtonEvent(b.Type); ev != "" || b.Type == "" {
			bv.Keyed = true
			bv.Reply = d.Replies[b.Key]
			bv.Editor = s.replyEditor(path, bv.Reply, true, menuArticles)
			if r := rules.KeyAnsweredBy(ops, ev, b.Key); r != nil && b.Key != "" {
				bv.AnsweredBy = fmt.Sprintf("%s (%s:%d)", r.Name, filepath.Base(r.Pos.File), r.Pos.Line)
			}
		}
		return bv
	}
	for i, b := range d.Menu.Buttons {
		path := fmt.Sprintf("b%d", i)
		first, last := i == 0, i == len(d.Menu.Buttons)-1
		if len(b.SubButtons) == 0 {
			bv := leaf(b, path, wechat.MenuMaxNameBytes, first, last)
			bv.CanAddSub = true
			v.Buttons = append(v.Buttons, bv)
			continue
		}
		bv := buttonView{Path: path, B: b, Parent: true, MaxBytes: wechat.MenuMaxNameBytes, First: first, Last: last,
			CanAddSub: len(b.SubButtons) < wechat.MenuMaxSubButtons}
		for j, sb := range b.SubButtons {
			bv.Subs = append(bv.Subs, leaf(sb, fmt.Sprintf("%s.s%d", path, j), wechat.MenuMaxSubNameBytes, j == 0, j == len(b.SubButtons)-1))
		}
		v.Buttons = append(v.Buttons, bv)
	}
	hits := map[string]uint64{}
	for _, r := range s.a.Engine.Rules().Rules {
		hits[r.Name] = r.Hits()
	}
	names := d.keywordNames()
	for i, k := range d.Keywords {
		v.Keywords = append(v.Keywords, keywordView{Path: fmt.Sprintf("k%d", i), K: k, Words: strings.Join(k.Words, "\n"),
			First: i == 0, Last: i == len(d.Keywords)-1, Hits: hits[names[i]],
			Editor: s.replyEditor(fmt.Sprintf("k%d", i), k.Reply, false, keywordArticles)})
	}
	v.MenuReplies = len(d.Replies)
	if gen, err := d.consoleYAML(); err == nil {
		v.Dirty = !sameAsDisk(gen, disk.console, d.empty())
	}
	if disk.menuOwned && (len(d.Menu.Buttons) > 0 || disk.menu != nil) {
		if gen, err := d.menuYAML(); err == nil && string(gen) != string(disk.menu) {
			v.Dirty = true
		}
	}
	return v
}

// sameAsDisk reports whether generated is what is on disk (an empty draft
// and no file are the same).
func sameAsDisk(generated, onDisk []byte, empty bool) bool {
	return string(generated) == string(onDisk) || (onDisk == nil && empty)
}

func (s *scope) menuPage(w http.ResponseWriter, r *http.Request, se *session) {
	s.editPage(w, se, "menu", http.StatusOK, nil, nil, "")
}

func (s *scope) keywordsPage(w http.ResponseWriter, r *http.Request, se *session) {
	s.editPage(w, se, "keywords", http.StatusOK, nil, nil, "")
}

// editPage renders the menu or keywords page for the session's draft.
func (s *scope) editPage(w http.ResponseWriter, se *session, name string, status int, c *checkResult, pub *published, notice string, problems ...string) {
	title := s.t("nav." + name)
	p := s.newPage(se, title, name)
	d, disk, err := s.sessionDraft(se)
	if err != nil {
		p.Problems = []string{s.t("p.files", err.Error())}
		s.render(w, http.StatusInternalServerError, name, p)
		return
	}
	v := s.view(d, disk)
	v.Check, v.Published = c, pub
	if c != nil {
		problems = append(problems, c.Problems...)
	}
	p.Body, p.Notice, p.Problems = v, notice, problems
	s.render(w, status, name, p)
}

func (s *scope) menuPost(w http.ResponseWriter, r *http.Request, se *session) {
	s.editPost(w, r, se, "menu", func(d *draft, disk *onDisk, f url.Values, op string) string {
		owned := disk.menuOwned && s.a.editable == "" // else the page showed the buttons read-only
		if owned {
			d.Menu = menuFromForm(f)
		}
		d.Replies = repliesFromForm(f, &d.Menu)
		if strings.HasPrefix(op, "add") || strings.HasPrefix(op, "del:") || strings.HasPrefix(op, "up:") || strings.HasPrefix(op, "down:") {
			if owned {
				return applyMenuOp(s.lang, &d.Menu, op)
			}
		}
		return ""
	})
}

func (s *scope) keywordsPost(w http.ResponseWriter, r *http.Request, se *session) {
	s.editPost(w, r, se, "keywords", func(d *draft, _ *onDisk, f url.Values, op string) string {
		if op == "kw-new" { // from the Unanswered page: its form carries no keywords
			newKeyword(d, f.Get("word"))
			return ""
		}
		d.Keywords = keywordsFromForm(f)
		if strings.HasPrefix(op, "kw-") {
			d.Keywords = applyKeywordOp(d.Keywords, strings.TrimPrefix(op, "kw-"))
		}
		return ""
	})
}

// editPost takes an edit page's form into the draft, then does what its
// button asked: an edit, Test, Publish or Discard.
func (s *scope) editPost(w http.ResponseWriter, r *http.Request, se *session, name string, apply func(*draft, *onDisk, url.Values, string) string) {
	op := r.PostFormValue("op")
	if op == "discard" {
		s.keep(se, nil)
		s.editPage(w, se, name, http.StatusOK, nil, nil, s.t("notice.discarded"))
		return
	}
	d, disk, err := s.sessionDraft(se)
	if err != nil {
		s.editPage(w, se, name, http.StatusInternalServerError, nil, nil, "", s.t("p.files", err.Error()))
		return
	}
	if v := r.PostFormValue("version"); v != "" && v != d.Base {
		// the page was loaded before someone else published: taking its
		// form on what is live now would undo their change without a word
		s.conflict(w, se, name)
		return
	}
	if problems, status := s.takeUploads(r, d, se.user); len(problems) > 0 {
		apply(d, disk, r.PostForm, "") // the form is kept in the draft; its op waits for a file WeChat takes
		s.keep(se, d)
		s.editPage(w, se, name, status, nil, nil, "", problems...)
		return
	}
	refused := apply(d, disk, r.PostForm, op)
	if refused == "" && strings.HasPrefix(op, "art-") {
		refused = d.applyArticleOp(s.lang, op)
	}
	s.keep(se, d)
	if refused != "" {
		s.editPage(w, se, name, http.StatusUnprocessableEntity, nil, nil, "", refused)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if (op == "test" || op == "publish") && s.a.editable != "" {
		s.editPage(w, se, name, http.StatusConflict, nil, nil, "", s.a.editable)
		return
	}
	switch op {
	case "test":
		c := s.check(ctx, d, disk)
		notice := ""
		if c.OK() {
			notice = s.t("notice.testOK", c.Passed, c.Answered, c.Keys)
		}
		s.editPage(w, se, name, statusOf(c), c, nil, notice)
	case "publish":
		s.publishPost(w, se, name, d, ctx)
	default:
		s.editPage(w, se, name, http.StatusOK, nil, nil, "")
	}
}

func (s *scope) publishPost(w http.ResponseWriter, se *session, name string, d *draft, ctx context.Context) {
	pub, err := s.publish(ctx, d, se.user)
	switch {
	case errors.Is(err, errConflict):
		s.conflict(w, se, name)
	case err != nil:
		s.log.Error("console: publish failed", "user", se.user, "err", err)
		s.editPage(w, se, name, http.StatusInternalServerError, nil, nil, "", s.t("publish.failed", err.Error()))
	case !pub.Check.OK():
		s.editPage(w, se, name, http.StatusUnprocessableEntity, pub.Check, nil, "")
	default:
		s.keep(se, nil) // what was published is now what is live
		notice := s.t("notice.published")
		if pub.MenuPushed {
			notice += s.t("notice.pushed")
		}
		if pub.Note != "" {
			notice += s.t("notice.note", pub.Note)
		}
		s.editPage(w, se, name, http.StatusOK, nil, pub, notice)
	}
}

// conflict answers 409: the edit began before someone else's publish (or
// an operator's change), naming who published; nothing of theirs is lost.
func (s *scope) conflict(w http.ResponseWriter, se *session, name string) {
	who := s.t("conflict.someone")
	if last := s.recentPublishes(1); len(last) > 0 {
		who = s.t("conflict.who", last[0].User, last[0].At.In(s.cfg.Location).Format("15:04:05"))
	}
	s.editPage(w, se, name, http.StatusConflict, nil, nil, "", s.t("conflict", who, ConsoleFile, MenuFile))
}

func statusOf(c *checkResult) int {
	if c.OK() {
		return http.StatusOK
	}
	return http.StatusUnprocessableEntity
}

// repliesFromForm reads each key's reply from the form fields of m's
// buttons.
func repliesFromForm(f url.Values, m *wechat.Menu) map[string]Reply {
	out := map[string]Reply{}
	leaf := func(b *wechat.Button, p string) {
		if wechat.ButtonEvent(b.Type) != "" && b.Key != "" {
			if r := formReply(f, p); r.Kind != "" {
				out[b.Key] = r
			}
		}
	}
	for i := range m.Buttons {
		p := fmt.Sprintf("b%d", i)
		if len(m.Buttons[i].SubButtons) == 0 {
			leaf(&m.Buttons[i], p)
		}
		for j := range m.Buttons[i].SubButtons {
			leaf(&m.Buttons[i].SubButtons[j], fmt.Sprintf("%s.s%d", p, j))
		}
	}
	return out
}

// chatEntry is one exchange in Try it.
type chatEntry struct {
	You     string
	Reply   *wechat.Reply
	Rules   []string // matched rules, with their file and line
	Actions []string
	Err     string
}

type tryView struct {
	Chat []chatEntry
	Menu wechat.Menu
}

func (s *scope) tryPage(w http.ResponseWriter, r *http.Request, se *session) {
	s.renderTry(w, se, http.StatusOK)
}

func (s *scope) renderTry(w http.ResponseWriter, se *session, status int) {
	p := s.newPage(se, s.t("nav.try"), "try")
	p.ReadOnly = ""
	v := &tryView{}
	s.sessions.with(func() { v.Chat = slices.Clone(se.ws(s.a.Name).chat) })
	if disk, err := readOnDisk(s.a.dir); err == nil {
		if d, err := disk.draft(); err == nil {
			v.Menu = d.Menu
		}
	}
	p.Body = v
	s.render(w, status, "try", p)
}

// tryPost runs a message or a tap through the running rules, offline: a
// dry-run engine on the live rule set, so no API call, no kefu send, no
// webhook, and no hit is counted.
func (s *scope) tryPost(w http.ResponseWriter, r *http.Request, se *session) {
	f := r.PostForm
	doc := rules.EventDoc{From: "oConsole_" + se.user}
	var you string
	switch op := f.Get("op"); {
	case op == "clear":
		s.sessions.with(func() { ws := se.ws(s.a.Name); ws.chat, ws.tryState = nil, nil })
		s.renderTry(w, se, http.StatusOK)
		return
	case op == "subscribe":
		doc.Type, you = "subscribe", s.t("try.follows")
	case f.Get("tap") != "":
		ev, key, _ := strings.Cut(f.Get("tap"), ":")
		if !slices.Contains(rules.EventTypes, ev) {
			ev = "click"
		}
		doc.Type, doc.Key = ev, key
		you = s.t("try.taps", cmp.Or(s.buttonName(key), key))
	default:
		doc.Type, doc.Content = "text", strings.TrimSpace(f.Get("text"))
		if doc.Content == "" {
			s.renderTry(w, se, http.StatusOK)
			return
		}
		you = doc.Content
	}
	var st engine.State
	s.sessions.with(func() {
		ws := se.ws(s.a.Name)
		if ws.tryState == nil {
			ws.tryState = memory.New(s.now)
		}
		st = ws.tryState
	})
	entry := s.dryRun(r.Context(), &doc, st)
	entry.You = you
	s.sessions.with(func() {
		ws := se.ws(s.a.Name)
		ws.chat = append(ws.chat, entry)
		if len(ws.chat) > 30 {
			ws.chat = ws.chat[len(ws.chat)-30:]
		}
	})
	s.renderTry(w, se, http.StatusOK)
}

// buttonName is the name of the menu.yaml button with key, or "".
func (s *scope) buttonName(key string) string {
	disk, err := readOnDisk(s.a.dir)
	if err != nil {
		return ""
	}
	d, err := disk.draft()
	if err != nil {
		return ""
	}
	for _, b := range keyButtons(&d.Menu) {
		if b.Key == key {
			return b.Name
		}
	}
	return ""
}

// dryRun answers doc with the live rules on an engine of its own (a fresh
// one: it never hands hit counters to the live rules, as a reused one
// would on its next SetRules), with st as its store (nil: a new one).
func (s *scope) dryRun(ctx context.Context, doc *rules.EventDoc, st engine.State) chatEntry {
	e := engine.New(engine.Options{Location: s.cfg.Location, Now: s.now, DryRun: true, State: st})
	defer e.Close(context.Background())
	e.SetRules(s.a.Engine.Rules())
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := e.Dispatch(doc.Event(s.now().In(s.cfg.Location))).Finish(ctx)
	var entry chatEntry
	if err != nil {
		entry.Err = err.Error()
		return entry
	}
	entry.Reply = res.Reply
	for _, r := range res.Rules {
		entry.Rules = append(entry.Rules, fmt.Sprintf("%s (%s:%d)", r.Name, filepath.Base(r.Pos.File), r.Pos.Line))
	}
	for _, st := range res.Steps {
		entry.Actions = append(entry.Actions, s.actionName(res.Action(st)))
	}
	if res.Err != nil {
		entry.Err = res.Err.Error()
	}
	return entry
}

type activityView struct {
	Rules     []ruleView
	Status    rules.Status
	Pending   int
	OutboxErr string
	Dead      []outbox.DeadLetter
	CanRetry  bool
	Publishes []auditEntry
	Handoffs  handoffsView
}

type ruleView struct {
	Name, Where string
	On          string
	Hits        uint64
	LastHit     time.Time
	Enabled     bool
	Console     bool
}

func (s *scope) activityPage(w http.ResponseWriter, r *http.Request, se *session) {
	s.renderActivity(w, r, se, http.StatusOK, "", nil)
}

func (s *scope) renderActivity(w http.ResponseWriter, r *http.Request, se *session, status int, notice string, problems []string) {
	p := s.newPage(se, s.t("nav.activity"), "activity")
	p.ReadOnly, p.Notice, p.Problems = "", notice, problems
	v := &activityView{Status: s.a.Reloader.Status(), Publishes: s.recentPublishes(10)}
	for _, rl := range s.a.Engine.Rules().Rules {
		v.Rules = append(v.Rules, ruleView{Name: rl.Name, Where: fmt.Sprintf("%s:%d", filepath.Base(rl.Pos.File), rl.Pos.Line),
			On: strings.Join(rl.On, ", "), Hits: rl.Hits(), LastHit: rl.LastHit(), Enabled: !rl.Disabled,
			Console: filepath.Base(rl.Pos.File) == ConsoleFile})
	}
	slices.SortStableFunc(v.Rules, func(a, b ruleView) int { return cmp.Compare(b.Hits, a.Hits) })
	if ob := s.a.Outbox; ob != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		var err error
		if v.Pending, err = ob.Pending(ctx); err == nil {
			v.Dead, err = ob.DeadLetters(ctx, 50)
		}
		if err != nil {
			v.OutboxErr = s.t("act.storeErr", err.Error())
		}
		_, v.CanRetry = ob.(outbox.Admin)
	}
	v.Handoffs = s.handoffs(r.Context())
	p.Body = v
	s.render(w, status, "activity", p)
}

func (s *scope) requeue(w http.ResponseWriter, r *http.Request, se *session) {
	admin, ok := s.a.Outbox.(outbox.Admin)
	id := r.PostFormValue("id")
	if !ok || id == "" {
		s.renderActivity(w, r, se, http.StatusBadRequest, "", []string{s.t("requeue.nothing")})
		return
	}
	done, err := admin.RetryDead(r.Context(), id)
	switch {
	case err != nil:
		s.renderActivity(w, r, se, http.StatusServiceUnavailable, "", []string{s.t("requeue.failed", err.Error())})
	case !done:
		s.renderActivity(w, r, se, http.StatusNotFound, "", []string{s.t("requeue.gone", id)})
	default:
		s.log.Info("console: dead letter requeued", "user", se.user, "id", id)
		s.renderActivity(w, r, se, http.StatusOK, s.t("requeue.done", id), nil)
	}
}

// actionName is an action as the marketer knows it, with its name in
// rules.yaml after it (a developer's own action keeps its name).
func (s *scope) actionName(name string) string {
	if _, ok := catalog[s.lang]["action."+name]; ok {
		return s.t("action."+name) + " (" + name + ")"
	}
	return name
}
