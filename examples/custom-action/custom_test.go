package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCustomBuild builds this example and runs its rules' tests with it, so
// the greet action is loaded, validated and run by a real binary.
func TestCustomBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wxbot-custom")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "test", "rules.yaml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "3 passed, 0 failed") {
		t.Fatalf("wxbot-custom test: %v\n%s", err, out)
	}
	out, _ = exec.Command(bin, "schema").Output()
	if !strings.Contains(string(out), `"greet"`) || !strings.Contains(string(out), "hour the evening starts") {
		t.Error("the schema lacks the greet action and its documented params")
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, bad, "version: 1\nrules:\n  - {name: x, on: text, actions: [{greet: {text: hi, morning: 13}}]}\n")
	out, err = exec.Command(bin, "check", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `rule "x": actions[0] (greet): want 0 ≤ morning < afternoon < evening ≤ 24, got 13, 12, 18`) {
		t.Errorf("check of a bad greet: %v\n%s", err, out)
	}
}
