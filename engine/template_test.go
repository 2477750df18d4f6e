package engine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTemplate(t *testing.T) {
	ev := &Event{Type: "text", From: "oUser", Content: "价格", Payment: Payment{Total: 12345}}
	env := newEnv(ev, map[string]any{"hotline": "400-000-0000", "n": 3}, func() time.Time { return time.Unix(0, 0) }, time.UTC)
	tests := []struct {
		src, want string
	}{
		{"", ""},
		{"plain text", "plain text"},
		{"热线 ${vars.hotline}", "热线 400-000-0000"},
		{"${event.from}/${event.type}", "oUser/text"},
		{"${ event.payment.total / 100 }元", "123.45元"},
		{"${event.payment.total / 5}", "2469"},
		{"${vars.n + 1}", "4"},
		{"${ {'a': 1}.a }", "1"},
		{`${ "}" + event.content }`, "}价格"},
		{"cost: $${not interpolated}", "cost: ${not interpolated}"},
		{"$5 and ${vars.n}", "$5 and 3"},
		{"${event.content == '价格'}", "true"},
		{"${vars.missing}", ""},
	}
	for _, tt := range tests {
		tpl, err := CompileTemplate(tt.src)
		if err != nil {
			t.Errorf("CompileTemplate(%q): %v", tt.src, err)
			continue
		}
		got, err := tpl.Render(env)
		if err != nil {
			t.Errorf("Render(%q): %v", tt.src, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Render(%q) = %q, want %q", tt.src, got, tt.want)
		}
		if tpl.String() != tt.src {
			t.Errorf("String() = %q, want the source %q", tpl.String(), tt.src)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	tests := []struct {
		src     string
		offset  int
		message string
	}{
		{"hello ${event.from", 6, `unterminated "${"`},
		{"${}", 0, `empty "${}"`},
		{"ab ${ evnt.from }", 5, "unknown name evnt"},
		{"${event.nope}", 2, "type engine.Event has no field nope"},
	}
	for _, tt := range tests {
		_, err := CompileTemplate(tt.src)
		var te *TemplateError
		if !errors.As(err, &te) {
			t.Errorf("CompileTemplate(%q) = %v, want a *TemplateError", tt.src, err)
			continue
		}
		if te.Offset != tt.offset || !strings.Contains(te.Error(), tt.message) {
			t.Errorf("CompileTemplate(%q): offset %d, %q; want offset %d and %q", tt.src, te.Offset, te.Error(), tt.offset, tt.message)
		}
	}
}

func TestCompileConditionMustBeBool(t *testing.T) {
	if _, err := CompileCondition(`event.content`); err == nil || !strings.Contains(err.Error(), "expected bool") {
		t.Errorf("non-bool condition: err = %v, want an 'expected bool' error", err)
	}
	if _, err := CompileCondition(`event.content matches "^\\d{6}$" && hour(now()) < 9`); err != nil {
		t.Errorf("valid condition: %v", err)
	}
}

func TestEnvHelpers(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	fixed := time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC) // Wednesday 07:30 in Shanghai
	env := newEnv(&Event{}, nil, func() time.Time { return fixed }, sh)
	for src, want := range map[string]bool{
		`hour(now()) == 7`:     true,
		`weekday(now()) == 3`:  true,
		`now().Year() == 2026`: true,
	} {
		p, err := CompileCondition(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := EvalCondition(p, env)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", src, got, err, want)
		}
	}
}
