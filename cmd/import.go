package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

func init() {
	register(&command{name: "import", args: "autoreply | menu",
		summary: "turn what was set in the MP console into wxbot files: autoreply (keyword, follow and default replies) as rules.yaml with tests, menu as menu.yaml",
		run:     runImport})
}

// importFlags are the settings of `wxbot import`.
type importFlags struct {
	api      apiFlags
	out      string
	rulesOut string
	force    bool
}

func runImport(ctx context.Context, env *cmdEnv, args []string) error {
	var f importFlags
	fs := newFlagSet(env, commands["import"])
	f.api.register(fs)
	fs.StringVar(&f.out, "out", "", "write the file here (rules for autoreply, the menu for menu) instead of to stdout; the summary goes to stdout then, to stderr otherwise")
	fs.StringVar(&f.rulesOut, "rules-out", "",
		"menu: where the rules answering the console-only buttons (text, img, voice, video, news) go, which become click buttons with generated keys; "+
			"default menu-rules.yaml beside --out (./menu-rules.yaml when the menu goes to stdout). Not written when no button needs a rule")
	fs.BoolVar(&f.force, "force", false, "overwrite files that exist")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: wxbot import autoreply|menu [--out FILE]")
	}
	switch pos[0] {
	case "autoreply", "menu":
	default:
		return usagef("unknown import %q (known: autoreply, menu)", pos[0])
	}
	// Refuse to overwrite before any call: the import costs API quota.
	outs := []string{f.out}
	if pos[0] == "menu" {
		outs = append(outs, menuRulesPath(&f))
	}
	if !f.force {
		for _, p := range outs {
			if p == "" {
				continue
			}
			if _, err := os.Stat(p); err == nil {
				return usagef("%s exists: choose another --out (or --rules-out), or give --force to overwrite it", p)
			}
		}
	}
	c, err := f.api.client(nil)
	if err != nil {
		return err
	}
	if pos[0] == "autoreply" {
		return runImportAutoReply(ctx, env, &f, c)
	}
	return runImportMenu(ctx, env, &f, c)
}

func menuRulesPath(f *importFlags) string {
	switch {
	case f.rulesOut != "":
		return f.rulesOut
	case f.out != "":
		return filepath.Join(filepath.Dir(f.out), "menu-rules.yaml")
	}
	return "menu-rules.yaml"
}

// summaryWriter is where the summary goes: stdout when the file is written
// to --out, stderr when the file itself is on stdout. where names the
// file's destination for the summary.
func summaryWriter(env *cmdEnv, out string) (w io.Writer, where string) {
	if out == "" {
		return env.stderr, "stdout"
	}
	return env.stdout, out
}

func writeImported(env *cmdEnv, path string, data []byte) error {
	if path == "" {
		_, err := env.stdout.Write(data)
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// ---- autoreply ----

// The YAML shapes written (rules' writer types, shared with the console).
type (
	ruleOut        = rules.RuleOut
	textOut        = rules.TextOut
	actionOut      = rules.ActionOut
	msgOut         = rules.MsgOut
	mediaOut       = rules.MediaOut
	articleOut     = rules.ArticleOut
	testOut        = rules.TestOut
	eventOut       = rules.EventOut
	expectOut      = rules.ExpectOut
	replyExpectOut = rules.ReplyExpectOut
)

// importedRule is one rule of the written file with the comments above it;
// a rule nothing of which could be carried over is written as a comment.
type importedRule struct {
	comments  []string
	rule      ruleOut
	commented bool
	tests     []testOut
}

// importReport counts what an import did, for the summary.
type importReport struct {
	rules, tests, commented int
	notes                   []string // what was not carried over, one line each
	tempMedia               int      // image and voice media ids (temporary: 3 days)
}

// printNotes lists what was not carried over as is, and the media ids
// that will expire.
func (r *importReport) printNotes(w io.Writer, where, kinds string) {
	if len(r.notes) > 0 {
		fmt.Fprintf(w, "not carried over as is (%d%s):\n", len(r.notes), where)
		for _, n := range r.notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	if r.tempMedia > 0 {
		fmt.Fprintf(w, "%d %s media id%s from the console expire in 3 days: replace them with permanent ones (wxbot media upload FILE --permanent)\n",
			r.tempMedia, kinds, plural(r.tempMedia))
	}
}

func (r *importReport) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// templateText makes s a template that renders as s: "${" is "$${".
func templateText(s string) string { return strings.ReplaceAll(s, "${", "$${") }

func isLink(s string) bool {
	l := strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// oneMessage is one message a console reply becomes (a news reply with
// several articles becomes several: kefu news takes one article).
type oneMessage struct {
	msg  msgOut
	kind string // the wechat reply type, for tests
}

// convertReply turns a console reply into messages, or says why it cannot.
func convertReply(r wechat.AutoReply, rep *importReport) ([]oneMessage, string) {
	switch r.Type {
	case wechat.AutoReplyText:
		if strings.TrimSpace(r.Content) == "" {
			return nil, "an empty text"
		}
		return []oneMessage{{msgOut{Text: []string{templateText(r.Content)}}, wechat.ReplyText}}, ""
	case wechat.AutoReplyImage, wechat.AutoReplyVoice:
		if r.Content == "" {
			return nil, r.Type + " without a media id"
		}
		rep.tempMedia++
		if r.Type == wechat.AutoReplyImage {
			return []oneMessage{{msgOut{Image: &mediaOut{MediaID: r.Content}}, wechat.ReplyImage}}, ""
		}
		return []oneMessage{{msgOut{Voice: &mediaOut{MediaID: r.Content}}, wechat.ReplyVoice}}, ""
	case wechat.AutoReplyVideo:
		if r.Content == "" || isLink(r.Content) {
			return nil, fmt.Sprintf("a video given as a download link (%s), not a media_id: upload it with wxbot media upload FILE --type video and reply with the media_id", shorten(r.Content, 60))
		}
		rep.tempMedia++
		return []oneMessage{{msgOut{Video: &mediaOut{MediaID: r.Content}}, wechat.ReplyVideo}}, ""
	case wechat.AutoReplyNews:
		if r.NewsInfo == nil || len(r.NewsInfo.List) == 0 {
			return nil, fmt.Sprintf("news without articles (material %s)", r.Content)
		}
		var out []oneMessage
		for _, a := range r.NewsInfo.List {
			if strings.TrimSpace(a.Title) == "" {
				continue
			}
			out = append(out, oneMessage{msgOut{News: []articleOut{{
				Title: templateText(a.Title), Description: templateText(a.Digest),
				URL: templateText(a.ContentURL), PicURL: templateText(a.CoverURL)}}}, wechat.ReplyNews})
		}
		if len(out) == 0 {
			return nil, "news whose articles have no title"
		}
		return out, ""
	}
	return nil, fmt.Sprintf("type %q (content %q) has no counterpart in wxbot", r.Type, shorten(r.Content, 40))
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// messageTypes are the event types of user messages, for the catch-all.
func messageTypes() []string {
	var ts []string
	for _, t := range rules.EventTypes {
		if engine.IsMessageType(t) {
			ts = append(ts, t)
		}
	}
	return ts
}

// autoReplyImporter turns AutoReplyInfo into rules.
type autoReplyImporter struct {
	rep   importReport
	names map[string]bool
	out   []importedRule
}

func (im *autoReplyImporter) uniqueName(base string) string {
	if strings.TrimSpace(base) == "" {
		base = "keyword rule"
	}
	name := base
	for i := 2; im.names[name]; i++ {
		name = fmt.Sprintf("%s (%d)", base, i)
	}
	im.names[name] = true
	return name
}

// msgIDForBucket finds a MsgId whose bucket among n is want, so a test
// proves which of the rules of a random pick answers.
func msgIDForBucket(want, n int) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("%d", 7000000000000000000+i)
		if engine.Bucket(id, n) == want {
			return id
		}
	}
}

// keywordRule imports one keyword rule of the console: as a rule, as a
// rule per reply when the console picks among replies of different types,
// or as a comment when its keywords or its replies cannot be carried over.
func (im *autoReplyImporter) keywordRule(kr wechat.KeywordRule, index int) {
	label := kr.RuleName
	if label == "" {
		label = fmt.Sprintf("keyword rule %d", index+1)
	}
	text, keywords, comments := im.keywordText(kr.Keywords, label)
	replies, comments := im.keywordReplies(kr.Replies, label, comments)
	base := ruleOut{On: "text", Text: &text}
	if len(keywords) == 0 || len(replies) == 0 {
		why := "no keyword"
		if len(keywords) > 0 {
			why = "no reply"
		}
		comments = append(comments, fmt.Sprintf("rule %q not carried over: %s could be", label, why))
		im.rep.note("%s: not carried over (%s could be)", label, why)
		base.Name = label
		base.Actions = []actionOut{}
		im.out = append(im.out, importedRule{comments: comments, rule: base, commented: true})
		im.rep.commented++
		return
	}
	switch {
	case kr.ReplyMode == wechat.ReplyModeRandom && len(replies) > 1 && allText(replies):
		im.addRandomText(base, label, replies, keywords, comments)
	case kr.ReplyMode == wechat.ReplyModeRandom && len(replies) > 1:
		im.addRandomPicks(base, label, replies, keywords, comments)
	default:
		im.addReplyAll(base, label, replies, keywords, comments)
	}
}

// keywordText turns the console's keywords into the rule's text gate; a
// keyword wxbot cannot match as the console did is left out, with a
// comment and a note, rather than matched differently.
func (im *autoReplyImporter) keywordText(kws []wechat.AutoReplyMatch, label string) (text textOut, keywords, comments []string) {
	for _, k := range kws {
		kw := k.Content
		switch {
		case k.Type != "" && k.Type != "text":
			comments = append(comments, fmt.Sprintf("keyword %q of type %q not carried over: only text keywords are known", kw, k.Type))
			im.rep.note("%s: keyword %q of type %q not carried over", label, kw, k.Type)
			continue
		case strings.TrimSpace(kw) == "":
			continue
		}
		switch k.MatchMode {
		case wechat.MatchEqual:
			text.Exact = append(text.Exact, kw)
		case wechat.MatchContain:
			text.Contains = append(text.Contains, kw)
		default:
			comments = append(comments, fmt.Sprintf("keyword %q with match_mode %q not carried over (known: equal, contain)", kw, k.MatchMode))
			im.rep.note("%s: keyword %q with match_mode %q not carried over", label, kw, k.MatchMode)
			continue
		}
		keywords = append(keywords, kw)
	}
	return text, keywords, comments
}

// keywordReplies converts each of a rule's replies into one or more
// messages, or a comment saying why it could not be; the comments go after
// the keywords', in the order the console lists the replies.
func (im *autoReplyImporter) keywordReplies(rs []wechat.AutoReply, label string, comments []string) ([]converted, []string) {
	var replies []converted
	temp := false
	for i, r := range rs {
		msgs, why := convertReply(r, &im.rep)
		if why != "" {
			comments = append(comments, fmt.Sprintf("reply %d not carried over: %s", i+1, why))
			im.rep.note("%s: reply %d not carried over: %s", label, i+1, why)
			continue
		}
		if r.Type == wechat.AutoReplyImage || r.Type == wechat.AutoReplyVoice || r.Type == wechat.AutoReplyVideo {
			temp = true
		}
		if len(msgs) > 1 {
			comments = append(comments, fmt.Sprintf("reply %d: news of %d articles sent as %d messages of one article each (WeChat shows one article in answer to a message, and kefu news takes one)", i+1, len(msgs), len(msgs)))
		}
		replies = append(replies, converted{msgs})
	}
	if temp {
		comments = append(comments, "the console's image, voice and video media ids are temporary (3 days from this import): upload the files with wxbot media upload FILE --permanent and put the new media_id here")
	}
	return replies, comments
}

// addRandomText imports a random pick among texts as one rule: a reply
// with a list of texts already picks one at random.
func (im *autoReplyImporter) addRandomText(base ruleOut, label string, replies []converted, keywords, comments []string) {
	r := base
	r.Name = im.uniqueName(label)
	var texts []string
	for _, c := range replies {
		texts = append(texts, c.msgs[0].msg.Text...)
	}
	r.Actions = []actionOut{{Reply: &msgOut{Text: texts}}}
	comments = append([]string{"random_one: one of the texts is picked at random per message"}, comments...)
	im.add(comments, r, keywords, []string{"reply"}, &replyExpectOut{Type: wechat.ReplyText}, "")
}

// addRandomPicks imports a random pick among types: a reply holds one
// type, so one rule per reply, each taking its share of messages by
// bucket(msg_id).
func (im *autoReplyImporter) addRandomPicks(base ruleOut, label string, replies []converted, keywords, comments []string) {
	n := len(replies)
	comments = append([]string{fmt.Sprintf("random_one over %d replies of different types: a reply takes one type, so each is a rule of its own, picked by bucket(event.msg_id, %d) (each message's MsgId is new, so the pick is random per message)", n, n)}, comments...)
	for i, c := range replies {
		r := base
		r.Name = im.uniqueName(label)
		if i < n-1 {
			r.When = fmt.Sprintf("bucket(event.msg_id, %d) == %d", n, i)
		}
		r.Actions = []actionOut{{Reply: &c.msgs[0].msg}}
		var cm []string
		if i == 0 {
			cm = comments
		}
		if i == n-1 && n > 1 {
			cm = append(cm, fmt.Sprintf("(the last pick has no when: it takes what bucket %d leaves)", n-1))
		}
		acts := []string{"reply"}
		for _, m := range c.msgs[1:] {
			r.Actions = append(r.Actions, actionOut{Kefu: kefuOf(m.msg)})
			acts = append(acts, "kefu")
		}
		kws := keywords
		if i > 0 {
			kws = keywords[:1] // every keyword is tested with the first pick
		}
		im.add(cm, r, kws, acts, expectOf(c.msgs[0]), msgIDForBucket(i, n))
	}
}

// addReplyAll imports reply_all (or a single reply) as one rule: the first
// message answers passively, the rest follow as kefu messages, in order.
func (im *autoReplyImporter) addReplyAll(base ruleOut, label string, replies []converted, keywords, comments []string) {
	var msgs []oneMessage
	for _, c := range replies {
		msgs = append(msgs, c.msgs...)
	}
	r := base
	r.Name = im.uniqueName(label)
	r.Actions = []actionOut{{Reply: &msgs[0].msg}}
	acts := []string{"reply"}
	for _, m := range msgs[1:] {
		k := kefuOf(m.msg)
		if k == nil {
			comments = append(comments, "a video after the first reply is not carried over: a kefu video needs a thumb_media_id the console does not give")
			im.rep.note("%s: a video after the first reply not carried over (kefu video needs thumb_media_id)", label)
			continue
		}
		r.Actions = append(r.Actions, actionOut{Kefu: k})
		acts = append(acts, "kefu")
	}
	if len(msgs) > 1 {
		comments = append([]string{"reply_all: the first reply answers the message, the others follow as kefu messages in order (within the 48-hour window the message opens)"}, comments...)
	}
	im.add(comments, r, keywords, acts, expectOf(msgs[0]), "")
}

// converted is one console reply as messages.
type converted struct {
	msgs []oneMessage
}

func allText(rs []converted) bool {
	for _, r := range rs {
		if len(r.msgs) != 1 || len(r.msgs[0].msg.Text) == 0 {
			return false
		}
	}
	return true
}

// kefuOf is m as a kefu message, or nil for a video (a kefu video needs a
// thumb_media_id).
func kefuOf(m msgOut) *msgOut {
	if m.Video != nil {
		return nil
	}
	return &m
}

func expectOf(m oneMessage) *replyExpectOut {
	x := &replyExpectOut{Type: m.kind}
	switch {
	case len(m.msg.Text) == 1:
		x.Text = strings.ReplaceAll(m.msg.Text[0], "$${", "${")
	case m.msg.Image != nil:
		x.MediaID = m.msg.Image.MediaID
	case m.msg.Voice != nil:
		x.MediaID = m.msg.Voice.MediaID
	case m.msg.Video != nil:
		x.MediaID = m.msg.Video.MediaID
	case len(m.msg.News) > 0:
		x.Title = strings.ReplaceAll(m.msg.News[0].Title, "$${", "${")
	}
	return x
}

// add appends a rule with a test per keyword.
func (im *autoReplyImporter) add(comments []string, r ruleOut, keywords, actions []string, reply *replyExpectOut, msgID string) {
	ir := importedRule{comments: comments, rule: r}
	for _, kw := range keywords {
		ir.tests = append(ir.tests, testOut{
			Name:   fmt.Sprintf("%s: %s", r.Name, kw),
			Event:  eventOut{Type: "text", Content: kw, MsgID: msgID},
			Expect: expectOut{Rules: []string{r.Name}, Actions: actions, Reply: reply},
		})
	}
	im.out = append(im.out, ir)
	im.rep.rules++
}

// simpleReply is the add-friend or the default reply as a rule.
func (im *autoReplyImporter) simpleReply(what string, r *wechat.AutoReply, open int, rule ruleOut, test eventOut) {
	var comments []string
	if r == nil || r.Type == "" {
		if open == 1 {
			im.rep.note("%s: switched on, but the console returned no reply", what)
		}
		return
	}
	msgs, why := convertReply(*r, &im.rep)
	rule.Name = im.uniqueName(rule.Name)
	if why != "" {
		comments = append(comments, fmt.Sprintf("%s not carried over: %s", what, why))
		im.rep.note("%s: not carried over: %s", what, why)
		rule.Actions = []actionOut{}
		im.out = append(im.out, importedRule{comments: comments, rule: rule, commented: true})
		im.rep.commented++
		return
	}
	if r.Type == wechat.AutoReplyImage || r.Type == wechat.AutoReplyVoice || r.Type == wechat.AutoReplyVideo {
		comments = append(comments, "the console's media id is temporary (3 days from this import): upload the file with wxbot media upload FILE --permanent and put the new media_id here")
	}
	rule.Actions = []actionOut{{Reply: &msgs[0].msg}}
	for _, m := range msgs[1:] {
		rule.Actions = append(rule.Actions, actionOut{Kefu: kefuOf(m.msg)})
	}
	if open != 1 {
		off := false
		rule.Enabled = &off
		comments = append(comments, fmt.Sprintf("%s is switched off in the console: imported disabled (remove enabled: false to turn it on)", what))
		im.rep.note("%s: switched off in the console, imported with enabled: false", what)
		im.out = append(im.out, importedRule{comments: comments, rule: rule})
		im.rep.rules++
		return
	}
	ir := importedRule{comments: comments, rule: rule}
	acts := []string{"reply"}
	for range msgs[1:] {
		acts = append(acts, "kefu")
	}
	ir.tests = []testOut{{Name: rule.Name, Event: test, Expect: expectOut{Rules: []string{rule.Name}, Actions: acts, Reply: expectOf(msgs[0])}}}
	im.out = append(im.out, ir)
	im.rep.rules++
}

// defaultReplyPriority puts the default reply after every other rule.
const defaultReplyPriority = -1000

// importAutoReply converts info into the rules file.
func importAutoReply(info *wechat.AutoReplyInfo, appID string, now time.Time) ([]byte, *importReport, error) {
	im := &autoReplyImporter{names: map[string]bool{}}
	im.simpleReply("the reply to new followers (关注后自动回复)", info.AddFriend, info.IsAddFriendReplyOpen,
		ruleOut{Name: "console: subscribe", On: "subscribe"}, eventOut{Type: "subscribe"})
	if info.Keyword != nil {
		for i, kr := range info.Keyword.List {
			im.keywordRule(kr, i)
		}
	}
	// 消息自动回复: the console sends it at most once an hour to a user
	// ("消息自动回复（60分钟内触发一次）", Getting_Rules_for_Auto_Replies).
	im.simpleReply("the default reply to messages (消息自动回复)", info.MessageDefault, info.IsAutoReplyOpen,
		ruleOut{Name: "console: default reply", On: messageTypes(), Priority: defaultReplyPriority, Cooldown: "1h"},
		eventOut{Type: "text", Content: "wxbot import: a message no keyword matches"})

	var b bytes.Buffer
	fmt.Fprintf(&b, "# Imported by wxbot import autoreply from the MP console's auto-replies of %s\n", appID)
	fmt.Fprintf(&b, "# (/cgi-bin/get_current_autoreply_info) on %s.\n", now.Format("2006-01-02 15:04"))
	b.WriteString("# Keyword rules keep the console's order; the default reply is the last rule,\n")
	b.WriteString("# at most once an hour per user, as in the console. Check it with: wxbot check FILE\n")
	b.WriteString("# Once wxbot serves the account (developer mode on), the console's own replies stop.\n")
	b.WriteString("version: 1\n\nrules:\n")
	if len(im.out) == 0 {
		b.WriteString("  []\n")
	}
	n, err := writeImportedRules(&b, im.out, "\n# One test per keyword (and for the follow and default replies): wxbot test FILE\ntests:\n")
	if err != nil {
		return nil, nil, err
	}
	im.rep.tests = n
	return b.Bytes(), &im.rep, nil
}

// checkImported loads a written rules file as wxbot check would and runs
// its tests; a generated file that does not pass is a bug of the import.
func checkImported(ctx context.Context, name string, data []byte) error {
	loaded, err := rules.Parse(name, data)
	if err != nil {
		var re *rules.Error
		if errors.As(err, &re) {
			return fmt.Errorf("the imported rules do not load (a bug of wxbot import, please report it):\n%s", re.Diags.String())
		}
		return err
	}
	var failed []string
	for _, res := range loaded.RunTests(ctx, time.UTC) {
		if !res.Passed() {
			failed = append(failed, res.String())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("the imported rules fail their tests (an earlier rule catches a later rule's keyword: reorder them or give one a priority):\n%s", strings.Join(failed, "\n"))
	}
	return nil
}

func runImportAutoReply(ctx context.Context, env *cmdEnv, f *importFlags, c *wechat.Client) error {
	info, err := c.AutoReplyInfo(ctx)
	if err != nil {
		return fmt.Errorf("getting the console's auto-replies: %w", err)
	}
	data, rep, err := importAutoReply(info, c.AppID(), time.Now())
	if err != nil {
		return err
	}
	name := f.out
	if name == "" {
		name = "rules.yaml"
	}
	if err := checkImported(ctx, name, data); err != nil {
		// Keep the file for the report, but say it does not pass.
		if werr := writeImported(env, f.out, data); werr != nil {
			return werr
		}
		return err
	}
	if err := writeImported(env, f.out, data); err != nil {
		return err
	}
	w, where := summaryWriter(env, f.out)
	fmt.Fprintf(w, "imported %d rule%s with %d test%s into %s", rep.rules, plural(rep.rules), rep.tests, plural(rep.tests), where)
	if rep.commented > 0 {
		fmt.Fprintf(w, "; %d left as comments", rep.commented)
	}
	fmt.Fprintln(w)
	rep.printNotes(w, ", each a comment in the file", "image/voice/video")
	if f.out != "" {
		fmt.Fprintf(w, "next: wxbot test %s, then wxbot serve --rules %s\n", f.out, f.out)
	}
	return nil
}
