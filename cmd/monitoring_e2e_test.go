package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// The PromQL here is checked without Prometheus's own parser: the
// github.com/prometheus/prometheus module would add a hundred-odd modules
// (cloud SDKs, Kubernetes clients) to go.mod for one test. checkPromQL
// catches what rots in practice: a renamed metric, an unclosed bracket or
// quote, a malformed range.

// alertRules is examples/monitoring/alerts.yml as Prometheus reads it.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// dashboard is the part of a Grafana dashboard holding queries.
type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

var (
	promName  = regexp.MustCompile(`\bwxbot_[a-zA-Z0-9_:]*`)
	promRange = regexp.MustCompile(`\[([^\]]*)\]`)
	promDur   = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
)

// checkPromQL reports what is wrong with the syntax of expr, and returns
// the wxbot metrics it names.
func checkPromQL(expr string) ([]string, error) {
	var stack []rune
	closer := map[rune]rune{'(': ')', '[': ']', '{': '}'}
	var quote rune
	var outside strings.Builder // expr without its string literals
	for _, c := range expr {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			continue
		case c == '"' || c == '\'' || c == '`':
			quote = c
			continue
		case closer[c] != 0:
			stack = append(stack, closer[c])
		case c == ')' || c == ']' || c == '}':
			if len(stack) == 0 || stack[len(stack)-1] != c {
				return nil, fmt.Errorf("unbalanced %q", c)
			}
			stack = stack[:len(stack)-1]
		}
		outside.WriteRune(c)
	}
	if quote != 0 || len(stack) > 0 {
		return nil, fmt.Errorf("unclosed quote or bracket")
	}
	for _, m := range promRange.FindAllStringSubmatch(outside.String(), -1) {
		if !promDur.MatchString(m[1]) {
			return nil, fmt.Errorf("range [%s]: want a duration such as 5m", m[1])
		}
	}
	names := promName.FindAllString(outside.String(), -1)
	if len(names) == 0 {
		return nil, fmt.Errorf("names no wxbot metric")
	}
	return names, nil
}

// monitoringQueries reads every alert and panel query of
// examples/monitoring, by where it is.
func monitoringQueries(t *testing.T) map[string]string {
	t.Helper()
	queries := map[string]string{}
	data, err := os.ReadFile("../examples/monitoring/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var ar alertRules
	if err := yaml.Unmarshal(data, &ar); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	for _, g := range ar.Groups {
		for _, r := range g.Rules {
			if _, err := time.ParseDuration(r.For); err != nil || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s: want for (a duration), labels.severity and annotations.summary", r.Alert)
			}
			queries["alert "+r.Alert] = r.Expr
		}
	}
	data, err = os.ReadFile("../examples/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	for _, p := range d.Panels {
		for i, tg := range p.Targets {
			queries[fmt.Sprintf("panel %q query %d", p.Title, i+1)] = tg.Expr
		}
	}
	return queries
}

// TestMonitoringExamples: every query of the example alerts and dashboard
// is well formed and names only metrics a running bot serves.
func TestMonitoringExamples(t *testing.T) {
	// Metrics with labels appear once a labelled sample exists: a push, and
	// a kefu send WeChat refuses (45015, dead-lettered), make them.
	fake := wechattest.New("wxmonitor0000001", "monitor-secret")
	defer fake.Close()
	fake.FailNext("/cgi-bin/message/custom/send", 45015)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(kefuRules), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxmonitor0000001", "WXBOT_SECRET=monitor-secret",
		"WXBOT_API_BASE=" + fake.URL}
	b := startBot(t, env, "--rules", rulesPath)
	wxbot(t, env, "simulate", "--url", b.url, "--from", "oDead", "text", "order")
	served := map[string]bool{}
	eventually(t, b, "a dead letter counted in /metrics", func() bool {
		served = scrapeNames(t, b)
		return served["wxbot_outbox_dead_letters_total"]
	})
	queries := monitoringQueries(t)
	if len(queries) < 10 {
		t.Fatalf("only %d queries in examples/monitoring", len(queries))
	}
	for _, where := range slices.Sorted(func(yield func(string) bool) {
		for k := range queries {
			if !yield(k) {
				return
			}
		}
	}) {
		names, err := checkPromQL(queries[where])
		if err != nil {
			t.Errorf("%s: %v: %s", where, err, queries[where])
		}
		for _, n := range names {
			if !served[n] {
				t.Errorf("%s: %s is not in a running bot's /metrics", where, n)
			}
		}
	}
}

// TestCheckPromQL: the checker refuses what it is there to catch.
func TestCheckPromQL(t *testing.T) {
	tests := []struct {
		expr string
		want string // "" for well formed
	}{
		{`sum by (kind) (increase(wxbot_outbox_dead_letters_total{kind="kefu"}[15m])) > 0`, ""},
		{`rate(wxbot_pushes_total{type="a)"}[5m])`, ""},
		{`sum(rate(wxbot_pushes_total[5m])`, "unclosed quote or bracket"},
		{`rate(wxbot_pushes_total[5m)]`, `unbalanced ')'`},
		{`wxbot_pushes_total{type="text}`, "unclosed quote or bracket"},
		{`rate(wxbot_pushes_total[5 minutes])`, "range [5 minutes]: want a duration such as 5m"},
		{`up == 0`, "names no wxbot metric"},
	}
	for _, tt := range tests {
		_, err := checkPromQL(tt.expr)
		if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("checkPromQL(%s) = %v, want %q", tt.expr, err, tt.want)
		}
	}
}

// scrapeNames is the names of the metrics GET /metrics serves now.
func scrapeNames(t *testing.T, b *botProc) map[string]bool {
	t.Helper()
	resp, err := e2eHTTP.Get(b.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	served := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "#" && (f[1] == "HELP" || f[1] == "TYPE"):
			served[f[2]] = true
		case len(f) >= 2 && f[0] != "#":
			name, _, _ := strings.Cut(f[0], "{")
			served[name] = true
		}
	}
	return served
}
