package cmd

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wxbot/wxbot/rules"
)

// `wxbot init [DIR]`: a starter rules directory that check passes, so that
// a first bot runs in minutes and its files show the format by example.

//go:embed starter/rules.yaml starter/menu.yaml
var starterFiles embed.FS

func init() {
	register(&command{name: "init", args: "[DIR]",
		summary: "write starter rules in DIR (default .): rules.yaml with tests, menu.yaml and rules.schema.json (for editors), which check passes",
		run:     runInit})
}

func runInit(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, commands["init"])
	force := fs.Bool("force", false, "overwrite files that exist")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("init takes one DIR, got %q", pos)
	}
	dir := "."
	if len(pos) == 1 {
		dir = pos[0]
	}
	files, err := starterContents()
	if err != nil {
		return err
	}
	if !*force {
		for _, name := range starterNames {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return fmt.Errorf("%s exists: nothing was written (add --force to overwrite, or give another DIR)", filepath.Join(dir, name))
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, name := range starterNames {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return fmt.Errorf("writing the starter files: %w", err)
		}
	}
	rulesArg := ""
	if dir != "." {
		rulesArg = " " + shellWord(dir)
	}
	fmt.Fprintf(env.stdout, "wrote %s\n\nnext: validate them and run their tests, run the bot, and talk to it (in a second terminal):\n", strings.Join(starterPaths(dir), ", "))
	fmt.Fprintf(env.stdout, "  wxbot check%s\n", rulesArg)
	fmt.Fprintf(env.stdout, "  WXBOT_TOKEN=mytoken wxbot serve --rules %s\n", shellWord(dir))
	fmt.Fprintf(env.stdout, "  WXBOT_TOKEN=mytoken wxbot simulate text 1\n")
	return nil
}

// starterNames are the files init writes, in the order it writes them.
var starterNames = []string{"rules.yaml", "menu.yaml", "rules.schema.json"}

// starterContents are the files' bytes: the embedded rules and menu, and
// the schema of this binary's rules (its actions included).
func starterContents() (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, name := range starterNames[:2] {
		b, err := fs.ReadFile(starterFiles, "starter/"+name)
		if err != nil {
			return nil, errors.New("the starter files are missing from this binary: rebuild it from the module")
		}
		files[name] = b
	}
	var schema bytes.Buffer // as wxbot schema prints it
	enc := json.NewEncoder(&schema)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rules.JSONSchema()); err != nil {
		return nil, fmt.Errorf("the rules' schema: %w", err)
	}
	files["rules.schema.json"] = schema.Bytes()
	return files, nil
}

func starterPaths(dir string) []string {
	var out []string
	for _, n := range starterNames {
		out = append(out, filepath.Join(dir, n))
	}
	return out
}

// shellWord quotes s for a shell when it needs it.
func shellWord(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]#&;|<>(){}~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
