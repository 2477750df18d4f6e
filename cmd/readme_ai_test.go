package cmd

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/rules"
)

// TestREADMEAIRulesWork: the README's shop assistant loads, and its own
// tests pass.
func TestREADMEAIRulesWork(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var snippet string
	for _, block := range strings.Split(string(readme), "```yaml\n")[1:] {
		if body, _, _ := strings.Cut(block, "```"); strings.Contains(body, "- ai:") {
			snippet = body
		}
	}
	if snippet == "" {
		t.Fatal("the README has no rules snippet with an ai action")
	}
	loaded, err := rules.Parse("README.md", []byte(snippet))
	if err != nil {
		t.Fatal(err)
	}
	res := loaded.RunTests(context.Background(), time.UTC)
	if len(res) < 2 {
		t.Fatalf("%d tests in the snippet", len(res))
	}
	for _, r := range res {
		if !r.Passed() {
			t.Error(r.String())
		}
	}
}
