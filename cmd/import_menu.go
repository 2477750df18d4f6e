package cmd

// `wxbot import menu`: the menu made in the MP console, into menu.yaml and
// the rules that answer its console-only buttons.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
	"gopkg.in/yaml.v3"
)

// consoleButtonKey is the key a console-only button gets as a click button:
// IMPORTED_<button>_<sub> (sub -1 for a top-level button), unique and
// well under 128 bytes.
func consoleButtonKey(i, j int) string {
	if j < 0 {
		return fmt.Sprintf("IMPORTED_%d", i+1)
	}
	return fmt.Sprintf("IMPORTED_%d_%d", i+1, j+1)
}

// menuImporter turns SelfMenuInfo into a menu and the rules its console
// buttons need.
type menuImporter struct {
	rep      importReport
	comments []string // above the menu
	rules    autoReplyImporter
}

// button converts one leaf; ok is false when it cannot be kept.
func (im *menuImporter) button(b wechat.SelfMenuButton, i, j int) (wechat.Button, bool) {
	where := (&wechat.ButtonError{Button: i, Sub: j, Name: b.Name}).Where()
	out := wechat.Button{Type: b.Type, Name: b.Name, Key: b.Key, URL: b.URL, MediaID: b.MediaID,
		ArticleID: b.ArticleID, AppID: b.AppID, PagePath: b.PagePath}
	if b.Type == "view" && out.URL == "" {
		out.URL = b.Value
	}
	var reply *wechat.AutoReply
	switch b.Type {
	case wechat.SelfMenuText, wechat.SelfMenuImage, wechat.SelfMenuVoice, wechat.SelfMenuVideo:
		reply = &wechat.AutoReply{Type: b.Type, Content: b.Value}
	case wechat.SelfMenuNews:
		reply = &wechat.AutoReply{Type: wechat.AutoReplyNews, Content: b.Value, NewsInfo: b.NewsInfo}
	default:
		if ev := wechat.ButtonEvent(b.Type); ev != "" || b.Type == "view" || b.Type == "miniprogram" ||
			b.Type == "media_id" || b.Type == "view_limited" || b.Type == "article_id" || b.Type == "article_view_limited" {
			return out, true
		}
		im.comments = append(im.comments, fmt.Sprintf("%s: type %q has no counterpart in menu/create: left out", where, b.Type))
		im.rep.note("%s: type %q left out", where, b.Type)
		return wechat.Button{}, false
	}
	// A console-only button: a click button plus the rule that answers it.
	key := consoleButtonKey(i, j)
	out = wechat.Button{Type: "click", Name: b.Name, Key: key}
	msgs, why := convertReply(*reply, &im.rules.rep)
	name := im.rules.uniqueName("menu: " + b.Name)
	rule := ruleOut{Name: name, On: "click", Key: key}
	if why != "" {
		im.comments = append(im.comments, fmt.Sprintf("%s: console %s button → click %s; its answer is not carried over (%s): the rule %q in the rules file is a comment to finish", where, b.Type, key, why, name))
		im.rep.note("%s: the answer of the %s button not carried over: %s", where, b.Type, why)
		rule.Actions = []actionOut{}
		im.rules.out = append(im.rules.out, importedRule{comments: []string{why}, rule: rule, commented: true})
		im.rules.rep.commented++
		return out, true
	}
	im.comments = append(im.comments, fmt.Sprintf("%s: console %s button → click %s, answered by the rule %q", where, b.Type, key, name))
	var comments []string
	if reply.Type == wechat.AutoReplyImage || reply.Type == wechat.AutoReplyVoice || reply.Type == wechat.AutoReplyVideo {
		comments = append(comments, "the console's media id is temporary (3 days from this import): upload the file with wxbot media upload FILE --permanent and put the new media_id here")
	}
	// A click is no user message: a passive news reply shows up to 8
	// articles, so the articles stay one message.
	m := msgs[0].msg
	for _, x := range msgs[1:] {
		m.News = append(m.News, x.msg.News...)
	}
	if len(m.News) > 8 {
		comments = append(comments, fmt.Sprintf("%d articles: WeChat shows at most 8; the first 8 are kept", len(m.News)))
		m.News = m.News[:8]
	}
	rule.Actions = []actionOut{{Reply: &m}}
	ir := importedRule{comments: comments, rule: rule}
	ir.tests = []testOut{{Name: name, Event: eventOut{Type: "click", Key: key},
		Expect: expectOut{Rules: []string{name}, Reply: expectOf(oneMessage{m, msgs[0].kind})}}}
	im.rules.out = append(im.rules.out, ir)
	im.rules.rep.rules++
	return out, true
}

// importMenu converts info into menu.yaml and, when console-only buttons
// need them, the rules that answer them (nil when none do).
func importMenu(info *wechat.SelfMenuInfo, appID, rulesFile string, now time.Time) (menuYAML, rulesYAML []byte, rep *importReport, err error) {
	im := &menuImporter{rules: autoReplyImporter{names: map[string]bool{}}}
	var m wechat.Menu
	for i, b := range info.Menu.Buttons {
		if b.SubButtons != nil && b.Type == "" {
			parent := wechat.Button{Name: b.Name}
			for j, s := range b.Subs() {
				if out, ok := im.button(s, i, j); ok {
					parent.SubButtons = append(parent.SubButtons, out)
				}
			}
			if len(parent.SubButtons) == 0 {
				im.comments = append(im.comments, fmt.Sprintf("button[%d] %q: no sub-button could be kept: left out", i, b.Name))
				continue
			}
			m.Buttons = append(m.Buttons, parent)
			continue
		}
		if out, ok := im.button(b, i, -1); ok {
			m.Buttons = append(m.Buttons, out)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Imported by wxbot import menu from the menu in use on %s\n", appID)
	fmt.Fprintf(&b, "# (/cgi-bin/get_current_selfmenu_info) on %s; push it with: wxbot menu push FILE\n", now.Format("2006-01-02 15:04"))
	if info.IsMenuOpen != 1 {
		b.WriteString("# The menu is switched off in the console (is_menu_open: 0).\n")
		im.rep.note("the menu is switched off in the console (is_menu_open: 0)")
	}
	if len(im.rules.out) > 0 {
		fmt.Fprintf(&b, "# Console-only buttons are click buttons now; %s answers them: serve it with your rules\n", rulesFile)
		fmt.Fprintf(&b, "# (a directory of rule files, or merge it), and push with --rules pointing at it.\n")
	}
	for _, c := range im.comments {
		b.WriteString(indentComment("# ", c))
	}
	if len(m.Buttons) == 0 {
		b.WriteString("# No button could be carried over.\nbutton: []\n")
	} else {
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(&m); err != nil {
			return nil, nil, nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, nil, nil, err
		}
		for _, e := range m.Validate() {
			im.rep.note("the menu breaks a limit of menu/create: %v (fix it before pushing)", e)
		}
	}
	im.rep.rules = im.rules.rep.rules
	im.rep.commented = im.rules.rep.commented
	im.rep.tempMedia = im.rules.rep.tempMedia
	im.rep.notes = append(im.rep.notes, im.rules.rep.notes...)
	if len(im.rules.out) == 0 {
		return b.Bytes(), nil, &im.rep, nil
	}
	var r bytes.Buffer
	fmt.Fprintf(&r, "# The rules answering the console-only buttons of the menu of %s, imported by\n", appID)
	fmt.Fprintf(&r, "# wxbot import menu on %s: each button is a click button with the key below.\n", now.Format("2006-01-02 15:04"))
	r.WriteString("version: 1\n\nrules:\n")
	n, err := writeImportedRules(&r, im.rules.out, "\ntests:\n")
	if err != nil {
		return nil, nil, nil, err
	}
	im.rep.tests = n
	return b.Bytes(), r.Bytes(), &im.rep, nil
}

func runImportMenu(ctx context.Context, env *cmdEnv, f *importFlags, c *wechat.Client) error {
	info, err := c.SelfMenuInfo(ctx)
	if err != nil {
		return fmt.Errorf("getting the menu in use: %w", err)
	}
	rulesFile := menuRulesPath(f)
	menuData, rulesData, rep, err := importMenu(info, c.AppID(), rulesFile, time.Now())
	if err != nil {
		return err
	}
	if rulesData != nil {
		if err := checkImported(ctx, rulesFile, rulesData); err != nil {
			return err
		}
		if err := os.WriteFile(rulesFile, rulesData, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", rulesFile, err)
		}
	}
	if err := writeImported(env, f.out, menuData); err != nil {
		return err
	}
	w, where := summaryWriter(env, f.out)
	fmt.Fprintf(w, "imported the menu into %s", where)
	if rulesData != nil {
		fmt.Fprintf(w, "; %d rule%s for console-only buttons (with %d test%s) into %s", rep.rules, plural(rep.rules), rep.tests, plural(rep.tests), rulesFile)
		if rep.commented > 0 {
			fmt.Fprintf(w, ", %d left as comments", rep.commented)
		}
	}
	fmt.Fprintln(w)
	rep.printNotes(w, "", "image/voice")
	if f.out != "" {
		if rulesData != nil {
			fmt.Fprintf(w, "next: wxbot menu push %s --rules %s --dry-run\n", f.out, rulesFile)
		} else {
			fmt.Fprintf(w, "next: wxbot menu push %s --dry-run\n", f.out)
		}
	}
	return nil
}
