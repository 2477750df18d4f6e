package rules

// Reading the rules from disk, before any parsing: the files of a path,
// their hash (what the change poll compares) and the limits on their size.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits cap what a rules file may cost: a file that big, or with that
// many rules, is refused with a clear error rather than parsed. The
// defaults fit 100,000 rules.
type Limits struct {
	MaxBytes int64 // all the rules files together
	MaxRules int
	// MaxCost bounds one expression's worst case, in evaluation steps
	// (see cost.go): a push must be answered within 5 s.
	MaxCost int
}

// DefaultLimits apply to every load; cmd sets them from its flags.
var DefaultLimits = Limits{MaxBytes: 64 << 20, MaxRules: 100_000, MaxCost: 5_000_000}

// source is the rules as read from disk, before parsing.
type source struct {
	files []string
	data  [][]byte
	hash  string
}

// readRules reads the rules files under path and hashes them: what a
// reload compares before it parses anything.
func readRules(path string) (*source, error) {
	files, err := ruleFiles(path)
	if err != nil {
		return nil, err
	}
	src := &source{}
	h := sha256.New()
	dir := len(files) > 1 || files[0] != path
	var total int64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading rules: %w", err)
		}
		if dir && isMenuFile(data) {
			continue // the menu.yaml that `wxbot menu push` reads lives beside the rules
		}
		if total += int64(len(data)); DefaultLimits.MaxBytes > 0 && total > DefaultLimits.MaxBytes {
			return nil, fmt.Errorf("rules: %s: over %d MiB of rules (the limit, --rules-max-bytes): split the file or raise the limit",
				f, DefaultLimits.MaxBytes>>20)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(data))
		h.Write(data)
		src.files, src.data = append(src.files, f), append(src.data, data)
	}
	if len(src.files) == 0 {
		return nil, fmt.Errorf("rules: %s has no rules file, only menus (a rules file has `version: 1` and `rules:`)", path)
	}
	src.hash = hex.EncodeToString(h.Sum(nil))[:16]
	return src, nil
}

// ruleFiles resolves --rules to the files to read.
func ruleFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w (set --rules to a rules.yaml or a directory of *.yaml)", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var files []string
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			continue
		}
		p := filepath.Join(path, n)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("rules: no *.yaml files in directory %s", path)
	}
	sort.Strings(files)
	return files, nil
}

// isMenuFile reports whether a YAML file is a custom menu (top-level
// `button:`, no `rules:`), which a rules directory may hold beside the
// rules. Only the top-level keys are looked at.
func isMenuFile(data []byte) bool {
	if !bytes.HasPrefix(data, []byte("button:")) && !bytes.Contains(data, []byte("\nbutton:")) {
		return false // no need to parse a rules file to know
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return false // not for us to judge: the loader reports it
	}
	return isMenu(doc.Content[0])
}

func isMenu(root *yaml.Node) bool {
	if root.Kind != yaml.MappingNode {
		return false
	}
	keys := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		keys[root.Content[i].Value] = true
	}
	return keys["button"] && !keys["rules"] && !keys["version"]
}
