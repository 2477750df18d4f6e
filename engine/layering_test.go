package engine_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/wxbot/wxbot"

// TestLayering keeps the import direction the package docs promise: engine's
// tree never reaches rules, actions or cmd; the wire and plumbing packages
// import nothing of wxbot; the stores only the plumbing they implement.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}: {{join .Deps \" \"}}", module+"/engine/...").Output()
	if err != nil {
		t.Skipf("go list: %v (the go command is needed for this test)", err)
	}
	allowed := map[string][]string{ // package → the only wxbot packages it may depend on
		"engine/wechat":            {},
		"engine/wechatpay":         {},
		"engine/outbox":            {},
		"engine/dedup":             {},
		"engine/store":             {"engine/outbox", "engine/dedup"},
		"engine/metrics":           {"engine/outbox", "engine/wechat"},
		"engine":                   {"engine/outbox", "engine/dedup", "engine/store", "engine/wechat"},
		"engine/callback":          {"engine", "engine/outbox", "engine/dedup", "engine/store", "engine/wechat", "engine/wechatpay"},
		"engine/store/storetest":   {"engine/outbox", "engine/dedup", "engine/store"},
		"engine/wechat/wechattest": {},
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

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}
