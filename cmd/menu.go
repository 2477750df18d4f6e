package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

func init() {
	register(&command{name: "menu", args: "push FILE | get | delete",
		summary: "the custom menu, kept as YAML beside the rules: validate and push, show, delete", run: runMenu})
}

func runMenu(ctx context.Context, env *cmdEnv, args []string) error {
	var a apiFlags
	var rulesPath string
	var strict bool
	fs := newFlagSet(env, commands["menu"])
	a.register(fs)
	fs.StringVar(&rulesPath, "rules", "rules.yaml", "the rules, to check that every click and scan key has a rule")
	fs.BoolVar(&strict, "strict", false, "treat keys without a rule as errors")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 2 && pos[0] == "push":
		m, err := readMenu(pos[1])
		if err != nil {
			return err
		}
		if errs := m.Validate(); len(errs) > 0 {
			for _, e := range errs {
				fmt.Fprintf(env.stdout, "%s: %v\n", pos[1], e)
			}
			return fmt.Errorf("%s: %d error(s); nothing was sent", pos[1], len(errs))
		}
		if n, err := crossCheck(env, m, pos[1], rulesPath, strict); err != nil {
			return err
		} else if n > 0 && strict {
			return fmt.Errorf("%s: %d key(s) without a rule (--strict); nothing was sent", pos[1], n)
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		if err := c.MenuCreate(ctx, m); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "menu pushed: %d button(s); clients show it within 5 minutes (re-follow to see it at once)\n", len(m.Buttons))
	case len(pos) == 1 && pos[0] == "get":
		c, err := a.client()
		if err != nil {
			return err
		}
		m, err := c.MenuGet(ctx)
		if err != nil {
			return err
		}
		if m == nil {
			fmt.Fprintln(env.stdout, "# no menu")
			return nil
		}
		enc := yaml.NewEncoder(env.stdout)
		enc.SetIndent(2)
		if err := enc.Encode(m); err != nil {
			return err
		}
		return enc.Close()
	case len(pos) == 1 && pos[0] == "delete":
		c, err := a.client()
		if err != nil {
			return err
		}
		if err := c.MenuDelete(ctx); err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, "menu deleted")
	default:
		return usagef("menu push FILE | menu get | menu delete")
	}
	return nil
}

// readMenu reads a menu YAML strictly: a misspelt field is an error, not a
// button silently missing its key.
func readMenu(path string) (*wechat.Menu, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("menu: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var m wechat.Menu
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &m, nil
}

// crossCheck warns about click and scan keys that no rule answers: a
// button that does nothing. It returns how many there are.
func crossCheck(env *cmdEnv, m *wechat.Menu, menuPath, rulesPath string, strict bool) (int, error) {
	loaded, err := rules.Load(rulesPath)
	if err != nil {
		if strict {
			return 0, fmt.Errorf("cannot cross-check the menu's keys (--strict): %w", err)
		}
		fmt.Fprintf(env.stdout, "warning: %s: rules not loaded (%v); keys not cross-checked\n", menuPath, firstLine(err.Error()))
		return 0, nil
	}
	missing := 0
	visit := func(b *wechat.Button) {
		if !slices.Contains(wechat.KeyedTypes, b.Type) {
			return
		}
		for _, r := range loaded.Set.Rules {
			if !r.Disabled && r.Answers(b.Type) && (len(r.Keys) == 0 || slices.Contains(r.Keys, b.Key)) {
				return
			}
		}
		missing++
		level := "warning"
		if strict {
			level = "error"
		}
		fmt.Fprintf(env.stdout, "%s: %s: %s button %q (key %s) has no rule with `on: %s` and `key: %s` in %s\n",
			menuPath, level, b.Type, b.Name, b.Key, b.Type, b.Key, rulesPath)
	}
	for i := range m.Buttons {
		visit(&m.Buttons[i])
		for j := range m.Buttons[i].SubButtons {
			visit(&m.Buttons[i].SubButtons[j])
		}
	}
	return missing, nil
}

func firstLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
