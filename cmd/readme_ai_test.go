package cmd

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/rules"
)

// TestREADMEAIRulesWork: the README's rules files with an ai action (the
// shop assistant, the handoff) load, and their own tests pass.
func TestREADMEAIRulesWork(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var snippets []string
	for _, block := range strings.Split(string(readme), "```yaml\n")[1:] {
		if body, _, _ := strings.Cut(block, "```"); strings.Contains(body, "- ai:") && strings.HasPrefix(body, "version: 1") {
			snippets = append(snippets, body)
		}
	}
	if len(snippets) < 2 {
		t.Fatalf("the README has %d rules files with an ai action, want the shop assistant and the handoff", len(snippets))
	}
	for i, snippet := range snippets {
		loaded, err := rules.Parse("README.md", []byte(snippet))
		if err != nil {
			t.Fatalf("snippet %d: %v", i, err)
		}
		res := loaded.RunTests(context.Background(), time.UTC)
		if len(res) < 2 {
			t.Fatalf("snippet %d: %d tests", i, len(res))
		}
		for _, r := range res {
			if !r.Passed() {
				t.Errorf("snippet %d: %s", i, r.String())
			}
		}
	}
}
