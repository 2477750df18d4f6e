package cmd

import (
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/wxbot/wxbot/rules"
)

// scrape returns the value of one sample of GET /metrics ("" if absent).
func scrape(t *testing.T, b *botProc, sample string) float64 {
	t.Helper()
	resp, err := e2eHTTP.Get(b.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` ([0-9.e+-]+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func TestMetricsMove(t *testing.T) {
	examples, _ := filepath.Abs("../examples/rules.yaml")
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	b := startBot(t, env, "--rules", examples)
	l, err := rules.Load(examples)
	if err != nil {
		t.Fatal(err)
	}
	if v := scrape(t, b, "wxbot_rules"); v != float64(len(l.Set.Rules)) {
		t.Errorf("wxbot_rules = %v, want %d", v, len(l.Set.Rules))
	}
	if v := scrape(t, b, "wxbot_rules_last_reload_successful"); v != 1 {
		t.Errorf("wxbot_rules_last_reload_successful = %v, want 1", v)
	}
	if v := scrape(t, b, `wxbot_rule_matches_total{rule="price"}`); v != -1 {
		t.Errorf("price matched %v times before any push", v)
	}
	wxbot(t, env, "simulate", "--url", b.url, "--msg-id", "77", "text", "价格")
	wxbot(t, env, "simulate", "--url", b.url, "--msg-id", "77", "text", "价格") // a retry
	wxbot(t, env, "simulate", "--url", b.url, "click", "HOTLINE")
	wxbot(t, []string{"WXBOT_TOKEN=wrong"}, "simulate", "--url", b.url, "text", "价格")
	for sample, want := range map[string]float64{
		`wxbot_rule_matches_total{rule="price"}`:             1,
		`wxbot_rule_matches_total{rule="contact"}`:           1,
		`wxbot_pushes_total{outcome="replied",type="text"}`:  1,
		`wxbot_pushes_total{outcome="retry",type="text"}`:    1,
		`wxbot_pushes_total{outcome="replied",type="click"}`: 1,
		`wxbot_retries_coalesced_total`:                      1,
		`wxbot_pushes_refused_total{reason="bad_signature"}`: 1,
		`wxbot_action_runs_total{action="reply"}`:            2,
		`wxbot_push_duration_seconds_count{type="text"}`:     2,
		`wxbot_outbox_depth`:                                 0,
	} {
		if got := scrape(t, b, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
}
