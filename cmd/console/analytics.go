package console

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/wechat"
)

// The 未回复 (Unanswered) and 数据 (Analytics) pages read the engine's
// daily counters (engine.Tally*): kept in --store, so replicas add up and
// a restart keeps them, with this process's last seconds of counts too.

const (
	// unansweredDays and unansweredRows: the texts of the last week, the
	// most asked first.
	unansweredDays = 7
	unansweredRows = 50
	// analyticsDays is the span of the Analytics page's charts.
	analyticsDays = 30
	// rankRows is how many names a ranking chart shows.
	rankRows = 10
)

// unansweredView is the Unanswered page.
type unansweredView struct {
	// ReadOnly says why no keyword reply can be started here (the rules
	// are a file); the rows are listed all the same.
	ReadOnly string
	Rows     []unansweredRow
	Long     int64 // unanswered texts too long to list
	Total    int64
	Err      string
}

type unansweredRow struct {
	Text  string
	Count int64
	Last  time.Time // the last day it was asked
	// AnsweredBy names a rule that answers the text now (one added since,
	// or an edit of the rules); Drafted a keyword in the user's draft.
	AnsweredBy string
	Drafted    bool
}

func (s *scope) unansweredPage(w http.ResponseWriter, r *http.Request, se *session) {
	p := s.newPage(se, s.t("nav.unanswered"), "unanswered")
	p.ReadOnly = ""
	v := &unansweredView{ReadOnly: s.a.editable}
	p.Body = v
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	days, err := s.a.Engine.Tallies(ctx, unansweredDays)
	if err != nil {
		v.Err = s.talliesError(err)
		s.render(w, http.StatusOK, "unanswered", p)
		return
	}
	byText := map[string]*unansweredRow{}
	for _, d := range days {
		for text, n := range d.Counts[engine.TallyUnanswered] {
			v.Total += n
			if text == "" {
				v.Long += n
				continue
			}
			row := byText[text]
			if row == nil {
				row = &unansweredRow{Text: text}
				byText[text] = row
			}
			row.Count += n
			row.Last = d.Date
		}
	}
	rows := make([]unansweredRow, 0, len(byText))
	for _, row := range byText {
		rows = append(rows, *row)
	}
	slices.SortFunc(rows, func(a, b unansweredRow) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), b.Last.Compare(a.Last), cmp.Compare(a.Text, b.Text))
	})
	v.Rows = rows[:min(len(rows), unansweredRows)]
	drafted := s.draftedWords(se)
	live := s.a.Engine.Rules().Rules
	for i := range v.Rows {
		row := &v.Rows[i]
		if rl := textAnsweredBy(live, row.Text); rl != nil {
			row.AnsweredBy = fmt.Sprintf("%s (%s:%d)", rl.Name, filepath.Base(rl.Pos.File), rl.Pos.Line)
		}
		row.Drafted = drafted[row.Text]
	}
	s.render(w, http.StatusOK, "unanswered", p)
}

// talliesError says why the counters cannot be shown, in the marketer's
// terms.
func (s *scope) talliesError(err error) string {
	if errors.Is(err, engine.ErrNoTallies) {
		return s.t("stats.none")
	}
	return s.t("stats.storeErr", err.Error())
}

// textAnsweredBy is the first enabled rule gated on the text that matches
// text (normalized as counted), or nil: whether the page's row still needs
// a reply.
func textAnsweredBy(rs []*engine.Rule, text string) *engine.Rule {
	for _, r := range rs {
		if r.Disabled || r.Text.IsZero() || !(slices.Contains(r.On, "text") || slices.Contains(r.On, "*")) {
			continue
		}
		if r.Text.Match(text, engine.NormalizeText(text)) {
			return r
		}
	}
	return nil
}

// draftedWords are the exact keywords of the session's draft, normalized:
// a row the marketer already started a reply for.
func (s *scope) draftedWords(se *session) map[string]bool {
	out := map[string]bool{}
	d, _, err := s.sessionDraft(se)
	if err != nil {
		return out
	}
	for _, k := range d.Keywords {
		for _, w := range k.Words {
			out[engine.NormalizeText(w)] = true
		}
	}
	return out
}

// newKeyword starts a keyword reply for a text of the Unanswered page: a
// row of the draft with the text as its exact keyword and an empty text
// reply, for the marketer to fill in, test and publish. It goes first, at
// the top of the page the marketer lands on; an exact keyword first takes
// its text from a "contains" row below, which is what a reply written for
// that text is for.
func newKeyword(d *draft, text string) {
	words := splitWords(text)
	if len(words) == 0 {
		return
	}
	k := applyKeywordOp(nil, "add")[0]
	k.Words = words
	d.Keywords = slices.Insert(d.Keywords, 0, k)
}

// analyticsView is the Analytics page.
type analyticsView struct {
	Err        string
	From, To   time.Time
	Pushes     barChart
	PushTotal  int64
	Texts      rankChart
	Menu       rankChart
	Rules      rankChart
	AI         barChart
	AITotals   map[string]int64 // by outcome, and tokens
	AIAnswered int64
	Handoffs   barChart
	HandTotals map[string]int64
}

func (s *scope) analyticsPage(w http.ResponseWriter, r *http.Request, se *session) {
	p := s.newPage(se, s.t("nav.analytics"), "analytics")
	p.ReadOnly = ""
	v := &analyticsView{}
	p.Body = v
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	days, err := s.a.Engine.Tallies(ctx, analyticsDays)
	if err != nil {
		v.Err = s.talliesError(err)
		s.render(w, http.StatusOK, "analytics", p)
		return
	}
	v.From, v.To = days[0].Date, days[len(days)-1].Date
	sum := func(kind string, names ...string) []int64 {
		out := make([]int64, len(days))
		for i, d := range days {
			for name, n := range d.Counts[kind] {
				if len(names) == 0 || slices.Contains(names, name) {
					out[i] += n
				}
			}
		}
		return out
	}
	total := func(kind string) map[string]int64 {
		out := map[string]int64{}
		for _, d := range days {
			for name, n := range d.Counts[kind] {
				out[name] += n
			}
		}
		return out
	}
	pushes := sum(engine.TallyPush)
	for _, n := range pushes {
		v.PushTotal += n
	}
	v.Pushes = newBarChart(days, pushes, s.t("stats.pushes"))
	v.Texts = newRankChart(total(engine.TallyText), nil)
	v.Menu = newRankChart(total(engine.TallyMenu), s.buttonNames(se))
	v.Rules = newRankChart(total(engine.TallyRule), nil)
	v.AITotals = total(engine.TallyAI)
	answered := []string{"passive", "kefu", "pending"}
	for _, o := range answered {
		v.AIAnswered += v.AITotals[o]
	}
	v.AI = newBarChart(days, sum(engine.TallyAI, answered...), s.t("stats.aiAnswers"))
	v.HandTotals = total(engine.TallyHandoff)
	v.Handoffs = newBarChart(days, sum(engine.TallyHandoff), s.t("stats.handoffs"))
	s.render(w, http.StatusOK, "analytics", p)
}

// analyticsCSV is the daily counters of the Analytics page's 30 days as
// CSV (day, kind, name, count), for a spreadsheet: the charts' numbers,
// whole. A text is a follower's words: a cell starting with = + - @ is
// prefixed with ' so that a spreadsheet shows it rather than running it.
func (s *scope) analyticsCSV(w http.ResponseWriter, r *http.Request, se *session) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	days, err := s.a.Engine.Tallies(ctx, analyticsDays)
	if err != nil {
		http.Error(w, s.talliesError(err), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="wxbot-`+s.a.Name+`-`+days[len(days)-1].Day+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"day", "kind", "name", "count"})
	for _, d := range days {
		kinds := slices.Sorted(maps.Keys(d.Counts))
		for _, kind := range kinds {
			for _, name := range slices.Sorted(maps.Keys(d.Counts[kind])) {
				cw.Write([]string{d.Date.Format("2006-01-02"), kind, csvSafe(name), strconv.FormatInt(d.Counts[kind][name], 10)})
			}
		}
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from taking a cell for a formula.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// buttonNames names menu keys after their buttons in the session's draft
// (the live menu unless the marketer is editing it).
func (s *scope) buttonNames(se *session) map[string]string {
	out := map[string]string{}
	d, _, err := s.sessionDraft(se)
	if err != nil {
		return out
	}
	name := func(b wechat.Button) {
		if b.Key != "" {
			out[b.Key] = b.Name
		}
		if b.URL != "" {
			out[b.URL] = b.Name
		}
	}
	for _, b := range d.Menu.Buttons {
		name(b)
		for _, sb := range b.SubButtons {
			name(sb)
		}
	}
	return out
}

// Chart geometry. The charts have no viewBox: across, positions are
// percentages of the page's width; down, pixels. So the text keeps its
// size on a phone and on a wide screen, and only the bars stretch.
const (
	chartH           = 180.0 // px
	chartTop         = 14.0  // room for the top value
	chartBottom      = 22.0  // room for the day labels
	rankRowH         = 24.0  // px
	rankLabelPct     = 34.0  // the names' column
	rankBarPct       = 54.0  // the longest bar
	maxRankLabelRune = 18
)

// barChart is a value a day, drawn as bars: server-rendered SVG, no script.
type barChart struct {
	Label  string
	H      float64
	Base   float64 // the bars' baseline (y, px)
	Max    int64
	Bars   []bar
	Ticks  []tick // day labels under some bars
	Total  int64
	HasAny bool
}

type bar struct {
	X, W float64 // %
	Y, H float64 // px
	Day  string  // MM-DD
	N    int64
}

type tick struct {
	X      float64 // %
	Anchor string
	Text   string
}

func newBarChart(days []engine.DayTallies, values []int64, label string) barChart {
	c := barChart{Label: label, H: chartH, Base: chartH - chartBottom}
	for _, n := range values {
		c.Max = max(c.Max, n)
		c.Total += n
	}
	c.HasAny = c.Max > 0
	scale := 0.0
	if c.Max > 0 {
		scale = (c.Base - chartTop) / float64(c.Max)
	}
	slot := 100 / float64(len(values))
	last := len(values) - 1
	for i, n := range values {
		h := float64(n) * scale
		if n > 0 && h < 1 {
			h = 1 // a day with some is never drawn as none
		}
		b := bar{X: float64(i)*slot + slot*0.15, W: slot * 0.7, Y: c.Base - h, H: h, Day: days[i].Date.Format("01-02"), N: n}
		c.Bars = append(c.Bars, b)
		if (last-i)%7 == 0 { // a week apart, ending today
			t := tick{X: b.X + b.W/2, Anchor: "middle", Text: b.Day}
			switch {
			case i == last:
				t.X, t.Anchor = 100, "end"
			case i < 3:
				t.X, t.Anchor = b.X, "start"
			}
			c.Ticks = append(c.Ticks, t)
		}
	}
	return c
}

// rankChart is the top names of a kind over the page's span, as bars.
type rankChart struct {
	H    float64
	Rows []rankRow
	More int // names beyond the chart
}

type rankRow struct {
	Y      float64 // px
	Name   string  // shown (cut to fit)
	Full   string  // the whole name, in the bar's title
	BarW   float64 // %
	ValueX float64 // %
	N      int64
}

func newRankChart(totals map[string]int64, names map[string]string) rankChart {
	type kv struct {
		k string
		n int64
	}
	var all []kv
	for k, n := range totals {
		if k != "" && n > 0 {
			all = append(all, kv{k, n})
		}
	}
	slices.SortFunc(all, func(a, b kv) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.k, b.k)) })
	c := rankChart{More: max(0, len(all)-rankRows)}
	all = all[:min(len(all), rankRows)]
	c.H = rankRowH * float64(len(all))
	var top int64
	if len(all) > 0 {
		top = all[0].n
	}
	for i, e := range all {
		full := e.k
		if n := names[e.k]; n != "" && n != e.k {
			full = n + " · " + e.k
		}
		w := max(rankBarPct*float64(e.n)/float64(top), 0.3)
		c.Rows = append(c.Rows, rankRow{Y: float64(i) * rankRowH, Name: cutRunes(full, maxRankLabelRune), Full: full,
			BarW: w, ValueX: rankLabelPct + 1 + w + 1, N: e.n})
	}
	return c
}

// cutRunes shortens s to n characters, marking the cut.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
