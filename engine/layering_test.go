package engine_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/wxbot/wxbot"

// TestLayering keeps the import direction the package docs promise: engine's
// tree never reaches rules, actions or cmd; the wire and plumbing packages
// import nothing of wxbot; the stores only the plumbing they implement; and
// no package but the bolt and redis stores links a store driver.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}: {{join .Deps \" \"}}", module+"/engine/...").Output()
	if err != nil {
		t.Skipf("go list: %v (the go command is needed for this test)", err)
	}
	allowed := map[string][]string{ // package → the only wxbot packages it may depend on
		"engine/wechat":                {},
		"engine/wechatpay":             {},
		"engine/outbox":                {},
		"engine/dedup":                 {},
		"engine/store":                 {"engine/outbox", "engine/dedup", "engine/wechat"},
		"engine/store/memory":          {"engine/outbox", "engine/dedup", "engine/wechat", "engine/store"},
		"engine/store/bolt":            {"engine/outbox", "engine/dedup", "engine/wechat", "engine/store"},
		"engine/store/redis":           {"engine/outbox", "engine/dedup", "engine/wechat", "engine/store", "engine/store/memory", "engine/store/bolt"},
		"engine/metrics":               {"engine/outbox", "engine/wechat"},
		"engine":                       {"engine/outbox", "engine/dedup", "engine/store", "engine/store/memory", "engine/wechat"},
		"engine/callback":              {"engine", "engine/outbox", "engine/dedup", "engine/store", "engine/store/memory", "engine/wechat", "engine/wechatpay"},
		"engine/store/redis/redistest": {},
		"engine/store/storetest":       {"engine/outbox", "engine/dedup", "engine/wechat", "engine/store"},
		"engine/wechat/wechattest":     {},
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ": ")
		name, ok := strings.CutPrefix(pkg, module+"/")
		if !ok || !strings.HasPrefix(name, "engine") {
			continue
		}
		want, known := allowed[name]
		if !known {
			t.Errorf("%s: a new package; add its allowed imports to this test", name)
			continue
		}
		seen++
		for _, d := range strings.Fields(deps) {
			dep, ours := strings.CutPrefix(d, module+"/")
			if !ours {
				if isDriver(d) && !strings.HasPrefix(name, "engine/store/bolt") && !strings.HasPrefix(name, "engine/store/redis") {
					t.Errorf("%s reaches the store driver %s: only engine/store/bolt and engine/store/redis may", name, d)
				}
				continue
			}
			if !contains(want, dep) {
				t.Errorf("%s imports %s; allowed: %v", name, dep, want)
			}
		}
	}
	if seen < len(allowed) {
		t.Errorf("checked %d packages, want %d", seen, len(allowed))
	}
}

// isDriver reports whether an import path is part of a store's driver
// (go-redis, bbolt), which a custom action's build should not link.
func isDriver(path string) bool {
	return strings.HasPrefix(path, "github.com/redis/go-redis") || strings.HasPrefix(path, "go.etcd.io/bbolt")
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

// TestSizes keeps functions short where the story is long: no non-test
// function of the repository over 80 lines, and no file over 700 (the XML
// scanner aside).
func TestSizes(t *testing.T) {
	fset := token.NewFileSet()
	var files []string
	filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			files = append(files, filepath.ToSlash(p))
		}
		return nil
	})
	for _, p := range files {
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n := fset.File(f.Pos()).LineCount(); n > 700 && !strings.HasSuffix(p, "engine/wechat/xmlscan.go") {
			t.Errorf("%s: %d lines, want at most 700: split it", p, n)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > 80 {
					t.Errorf("%s: %s is %d lines, want at most 80", p, fd.Name.Name, n)
				}
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("no files found")
	}
}
