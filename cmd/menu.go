package cmd

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

func init() {
	register(&command{name: "menu", args: "push FILE | get | delete",
		summary: "the custom menu, kept as YAML beside the rules: push FILE (validated, keys checked against the rules), get, delete",
		run:     runMenu})
}

// menuFlags are the settings of `wxbot menu`.
type menuFlags struct {
	api    apiFlags
	rules  string
	strict bool
	dryRun bool
}

func runMenu(ctx context.Context, env *cmdEnv, args []string) error {
	var f menuFlags
	fs := newFlagSet(env, commands["menu"])
	f.api.register(fs)
	fs.StringVar(&f.rules, "rules", "rules.yaml", "push: the rules whose keys the menu's buttons must match (when not set and absent, rules.yaml beside FILE)")
	fs.BoolVar(&f.strict, "strict", false, "push: a button key no rule answers, or rules that do not load, is an error, not a warning")
	fs.BoolVar(&f.dryRun, "dry-run", false, "push: validate and check the keys, but do not call the API")
	yes := yesFlag(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	rulesSet := false
	fs.Visit(func(fl *flag.Flag) { rulesSet = rulesSet || fl.Name == "rules" })
	if len(pos) == 0 {
		return usagef("menu needs a subcommand: push FILE, get or delete")
	}
	switch sub, rest := pos[0], pos[1:]; sub {
	case "push":
		if len(rest) != 1 {
			return usagef("usage: wxbot menu push FILE")
		}
		rulesPath := f.rules
		if !rulesSet {
			rulesPath = defaultRulesBeside(f.rules, rest[0])
		}
		return runMenuPush(ctx, env, &f, rest[0], rulesPath)
	case "get", "delete":
		if len(rest) != 0 {
			return usagef("menu %s takes no arguments, got %q", sub, rest)
		}
		if sub == "delete" {
			if err := confirm(env, *yes, "delete the custom menu (conditional menus too)"); err != nil {
				return err
			}
		}
		c, err := f.api.client(nil)
		if err != nil {
			return err
		}
		if sub == "get" {
			return runMenuGet(ctx, env, c)
		}
		if err := c.MenuDelete(ctx); err != nil {
			return fmt.Errorf("deleting the menu: %w", err)
		}
		fmt.Fprintln(env.stdout, "deleted the custom menu (conditional menus too)")
		return nil
	default:
		return usagef("unknown subcommand %q (known: push, get, delete)", sub)
	}
}

// defaultRulesBeside picks the rules of a menu file when --rules was not
// set: ./rules.yaml if there is one, else the rules.yaml beside FILE, since
// the menu is kept next to the rules it calls.
func defaultRulesBeside(def, menuFile string) string {
	if _, err := os.Stat(def); err == nil {
		return def
	}
	beside := filepath.Join(filepath.Dir(menuFile), "rules.yaml")
	if _, err := os.Stat(beside); err == nil {
		return beside
	}
	return def
}

func runMenuPush(ctx context.Context, env *cmdEnv, f *menuFlags, file, rulesPath string) error {
	m, doc, err := readMenuFile(file)
	if err != nil {
		return err
	}
	out := env.stdout
	errs := 0
	for _, e := range m.Validate() {
		fmt.Fprintf(out, "%s: %v\n", menuPos(file, doc, e), e)
		errs++
	}
	if errs > 0 {
		fmt.Fprintf(out, "%s: %d error%s; nothing pushed\n", file, errs, plural(errs))
		return errSilent
	}

	if uses := menuKeys(m); len(uses) > 0 {
		loaded, err := rules.Load(rulesPath)
		if err != nil {
			why := err.Error()
			var re *rules.Error
			if errors.As(err, &re) {
				n := len(re.Diags.Errors())
				why = fmt.Sprintf("the rules in %s have %d error%s (see: wxbot check %s)", rulesPath, n, plural(n), rulesPath)
			}
			if f.strict {
				fmt.Fprintf(out, "%s: cannot check the button keys: %s\n", file, why)
				fmt.Fprintf(out, "%s: nothing pushed (--strict needs the rules: set --rules)\n", file)
				return errSilent
			}
			fmt.Fprintf(out, "%s: warning: button keys not checked: %s\n", file, why)
		} else {
			problems := 0
			for _, u := range uses {
				if rules.KeyAnswered(loaded.Set, u.event, u.button.Key) {
					continue
				}
				problems++
				sev := "warning: "
				if f.strict {
					sev = ""
				}
				fmt.Fprintf(out, "%s: %s%s: no rule in %s answers %s with key %q (add one with on: %s, key: %s)\n",
					menuPos(file, doc, u.at), sev, u.at.Where(), rulesPath, u.event, u.button.Key, u.event, u.button.Key)
			}
			if problems > 0 && f.strict {
				fmt.Fprintf(out, "%s: %d key%s without a rule; nothing pushed (--strict)\n", file, problems, plural(problems))
				return errSilent
			}
			fmt.Fprintf(out, "%s: %d of %d button keys answered by rules in %s\n", file, len(uses)-problems, len(uses), rulesPath)
		}
	}

	top, subs := menuCounts(m)
	if f.dryRun {
		fmt.Fprintf(out, "%s: valid: %d buttons, %d sub-buttons; not pushed (--dry-run)\n", file, top, subs)
		return nil
	}
	c, err := f.api.client(nil)
	if err != nil {
		return err
	}
	if err := c.MenuCreate(ctx, m); err != nil {
		return fmt.Errorf("pushing %s: %w", file, err)
	}
	fmt.Fprintf(out, "pushed %s: %d buttons, %d sub-buttons\n", file, top, subs)
	// WeChat clients refetch the menu only every 5 minutes or so.
	fmt.Fprintln(out, "followers see it within about 5 minutes (unfollow and follow again to see it at once)")
	return nil
}

// readMenuFile decodes a menu strictly (an unknown field is an error, so a
// misspelt "sub_buttons" is not silently dropped) and also returns its
// node tree, for positions.
func readMenuFile(file string) (*wechat.Menu, *yaml.Node, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the menu: %w", err)
	}
	var m wechat.Menu
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("%s is empty: write the menu as button: [...] (see examples/menu.yaml)", file)
		}
		return nil, nil, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("%s holds more than one YAML document: keep one menu per file", file)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, yamlError(file, err)
	}
	return &m, &doc, nil
}

var (
	yamlLineRe    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknownRe = regexp.MustCompile(`^field (\S+) not found in type wechat\.(Menu|Button)$`)
)

// yamlError rewrites yaml.v3's messages as FILE:LINE: message, one per
// problem, and names the known fields when one is unknown.
func yamlError(file string, err error) error {
	var lines []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines = te.Errors
	} else {
		lines = []string{err.Error()}
	}
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n")
		}
		msg, where := l, file
		if m := yamlLineRe.FindStringSubmatch(l); m != nil {
			where, msg = file+":"+m[1], m[2]
		}
		if m := yamlUnknownRe.FindStringSubmatch(msg); m != nil {
			known := "button"
			if m[2] == "Button" {
				known = "type, name, key, url, media_id, article_id, appid, pagepath, sub_button"
			}
			msg = fmt.Sprintf("unknown field %q (known: %s)", m[1], known)
		}
		fmt.Fprintf(&b, "%s: %s", where, msg)
	}
	return errors.New(b.String())
}

// menuPos is FILE:LINE:COL of the button a *ButtonError names, or of the
// button list for the menu as a whole (FILE alone when not found).
func menuPos(file string, doc *yaml.Node, err error) string {
	var be *wechat.ButtonError
	if !errors.As(err, &be) || doc == nil || len(doc.Content) == 0 {
		return file
	}
	n := doc.Content[0]
	if list := mapValue(n, "button"); be.Button < 0 && list != nil {
		n = list // a problem with the menu as a whole: point at its button list
	} else if be.Button >= 0 {
		n = nthItem(list, be.Button)
	}
	if n != nil && be.Sub >= 0 {
		n = nthItem(mapValue(n, "sub_button"), be.Sub)
	}
	if n == nil {
		return file
	}
	return fmt.Sprintf("%s:%d:%d", file, n.Line, n.Column)
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func nthItem(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

// keyUse is a button whose tap pushes an event with its key.
type keyUse struct {
	button *wechat.Button
	event  string              // the rules' event type
	at     *wechat.ButtonError // locates and names the button (Msg unused)
}

// menuKeys lists the buttons whose taps reach the bot with a key.
func menuKeys(m *wechat.Menu) []keyUse {
	var uses []keyUse
	visit := func(b *wechat.Button, i, j int) {
		if ev := wechat.ButtonEvent(b.Type); ev != "" && b.Key != "" {
			uses = append(uses, keyUse{button: b, event: ev, at: &wechat.ButtonError{Button: i, Sub: j, Name: b.Name}})
		}
	}
	for i := range m.Buttons {
		b := &m.Buttons[i]
		visit(b, i, -1)
		for j := range b.SubButtons {
			visit(&b.SubButtons[j], i, j)
		}
	}
	return uses
}

func menuCounts(m *wechat.Menu) (top, subs int) {
	for _, b := range m.Buttons {
		subs += len(b.SubButtons)
	}
	return len(m.Buttons), subs
}

func runMenuGet(ctx context.Context, env *cmdEnv, c *wechat.Client) error {
	m, err := c.MenuGet(ctx)
	if err != nil {
		return fmt.Errorf("getting the menu: %w", err)
	}
	if m == nil {
		// A YAML comment, so that redirecting get into a file stays valid
		// YAML.
		fmt.Fprintln(env.stdout, "# no menu: the account has none set through the API (push one with: wxbot menu push FILE)")
		return nil
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# the custom menu of %s; wxbot menu push reads this format\n", c.AppID())
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("writing the menu as YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("writing the menu as YAML: %w", err)
	}
	_, err = env.stdout.Write(buf.Bytes())
	return err
}
