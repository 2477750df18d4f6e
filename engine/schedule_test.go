package engine

import (
	"context"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store/memory"
)

func TestScheduleContains(t *testing.T) {
	office := &Schedule{Hours: []DayRange{{9 * 60, 18 * 60}}}
	for _, d := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday} {
		office.Weekdays[d] = true
	}
	night := &Schedule{Hours: []DayRange{{22 * 60, 6 * 60}}}
	night.Weekdays[time.Friday] = true // Friday night, into Saturday morning
	campaign := &Schedule{From: time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 12, 0, 0, 0, 0, time.UTC)}
	at := func(day, hour, min int) time.Time { return time.Date(2026, 11, day, hour, min, 0, 0, time.UTC) }
	// 2026-11-23 is a Monday; 2026-11-27 a Friday.
	tests := []struct {
		name string
		w    *Schedule
		t    time.Time
		want bool
	}{
		{"office Monday 09:00", office, at(23, 9, 0), true},
		{"office Monday 17:59", office, at(23, 17, 59), true},
		{"office Monday 18:00", office, at(23, 18, 0), false},
		{"office Monday 08:59", office, at(23, 8, 59), false},
		{"office Saturday noon", office, at(28, 12, 0), false},
		{"night Friday 23:00", night, at(27, 23, 0), true},
		{"night Saturday 05:59", night, at(28, 5, 59), true},
		{"night Saturday 06:00", night, at(28, 6, 0), false},
		{"night Friday 05:00 (Thursday's night)", night, at(27, 5, 0), false},
		{"night Saturday 23:00", night, at(28, 23, 0), false},
		{"campaign start", campaign, at(11, 0, 0), true},
		{"campaign end", campaign, at(12, 0, 0), false},
		{"campaign before", campaign, at(10, 23, 59), false},
	}
	for _, tt := range tests {
		if got := tt.w.Contains(tt.t); got != tt.want {
			t.Errorf("%s: Contains = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseDayRangeAndWeekday(t *testing.T) {
	for in, want := range map[string]DayRange{"09:00-18:00": {540, 1080}, "22:00 - 06:30": {1320, 390}, "00:00-24:00": {0, 1440}} {
		got, err := ParseDayRange(in)
		if err != nil || got != want {
			t.Errorf("ParseDayRange(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"9-18", "09:00", "25:00-26:00", "09:00-09:00", "09:0-10:00", "24:30-01:00"} {
		if _, err := ParseDayRange(bad); err == nil {
			t.Errorf("ParseDayRange(%q) accepted", bad)
		}
	}
	for in, want := range map[string]time.Weekday{"mon": time.Monday, "SUN": time.Sunday, "Friday": time.Friday} {
		if got, err := ParseWeekday(in); err != nil || got != want {
			t.Errorf("ParseWeekday(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"mo", "funday", "mondays"} {
		if _, err := ParseWeekday(bad); err == nil {
			t.Errorf("ParseWeekday(%q) accepted", bad)
		}
	}
}

func TestBucketIsStableAndSpread(t *testing.T) {
	// Pinned: a user's bucket must not change across releases, or an A/B
	// split (bucket(event.from, 100) < 10) reshuffles its users.
	for _, tt := range []struct {
		s       string
		n, want int
	}{
		{"oUser1", 100, 64}, {"oUser1", 10, 4}, {"oUser1", 7, 6},
		{"o6_bmjrPTlm6_2sgVt7hMZOPfL2M", 100, 2}, {"o6_bmjrPTlm6_2sgVt7hMZOPfL2M", 7, 1},
		{"", 100, 61},
	} {
		if got := Bucket(tt.s, tt.n); got != tt.want {
			t.Errorf("Bucket(%q, %d) = %d, want %d", tt.s, tt.n, got, tt.want)
		}
	}
	counts := make([]int, 10)
	for i := 0; i < 10000; i++ {
		counts[Bucket("oUser"+string(rune('a'+i%26))+time.Duration(i).String(), 10)]++
	}
	for b, n := range counts {
		if n < 800 || n > 1200 {
			t.Errorf("bucket %d got %d of 10000, want about 1000", b, n)
		}
	}
	if Bucket("x", 0) != 0 {
		t.Error("bucket with n=0 is not 0")
	}
}

func TestGatesActiveAndCooldown(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) // Monday 10:00
	clock := func() time.Time { return now }
	office := &Schedule{Name: "office", Hours: []DayRange{{540, 1080}}}
	windows := map[string]*Schedule{"office": office}
	inOffice := rule("in", []string{"text"}, func(r *Rule) { r.Active = []ActiveRef{{Schedule: "office"}} })
	outOffice := rule("out", []string{"text"}, func(r *Rule) { r.Active = []ActiveRef{{Schedule: "office", Negate: true}} })
	cool := rule("cool", []string{"text"}, func(r *Rule) { r.Cooldown = 30 * time.Minute })
	st := memory.New(clock)
	env := baseEnv(nil, windows, clock, time.UTC)
	check := func(r *Rule, from string) Gate {
		ev := &Event{Type: "text", From: from}
		e := env
		e.Event = ev
		gate, err := r.Check(context.Background(), ev, "", &e, windows, st)
		if err != nil {
			t.Fatal(err)
		}
		return gate
	}
	if g := check(inOffice, "a"); g != "" {
		t.Errorf("in office hours: stopped by %q", g)
	}
	if g := check(outOffice, "a"); g != GateActive {
		t.Errorf("!office during office hours: gate %q, want active", g)
	}
	if g := check(cool, "a"); g != "" {
		t.Errorf("first cooldown: %q", g)
	}
	if g := check(cool, "a"); g != GateCooldown {
		t.Errorf("second within cooldown: %q, want cooldown", g)
	}
	if g := check(cool, "b"); g != "" {
		t.Errorf("another user: %q", g)
	}
	now = now.Add(31 * time.Minute)
	if g := check(cool, "a"); g != "" {
		t.Errorf("after the cooldown: %q", g)
	}
	now = now.Add(9 * time.Hour) // 19:31
	if g := check(inOffice, "a"); g != GateActive {
		t.Errorf("office after hours: %q", g)
	}
	p, err := CompileCondition(`active("office")`)
	if err != nil {
		t.Fatal(err)
	}
	e := env
	e.Event = &Event{}
	if ok, _ := EvalCondition(p, &e); ok {
		t.Error(`active("office") true after hours`)
	}
}
