package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

// `wxbot kf sessions|waiting|records`: who is being served, who waits, and
// what was said, read from the API.

// kfReadFlags are the flags of kf sessions, waiting and records.
type kfReadFlags struct {
	timezone, from, to string
	json               bool
	pageSize           int

	loc        *time.Location
	start, end time.Time // records: the range, both included
}

// kfReadFlagNames are the flags kfReadFlags adds, and the subcommands
// that take each.
var kfReadFlagNames = map[string][]string{
	"timezone":  {"sessions", "waiting", "records"},
	"from":      {"records"},
	"to":        {"records"},
	"json":      {"records"},
	"page-size": {"records"},
}

func (f *kfReadFlags) register(fs *flagSet) {
	fs.StringVar(&f.timezone, "timezone", "Asia/Shanghai", "sessions, waiting, records: the time zone of the times read and printed (serve's --timezone)")
	fs.StringVar(&f.from, "from", "", `records: the first time, in --timezone: "2026-03-01", "2026-03-01 09:30", or RFC 3339 (required)`)
	fs.StringVar(&f.to, "to", "", "records: the last time, as --from (default now); a date alone is the end of that day")
	fs.BoolVar(&f.json, "json", false, "records: JSON Lines (one JSON object a record), not a table")
	fs.IntVar(&f.pageSize, "page-size", wechat.KfRecordsPageMax, fmt.Sprintf("records: records per API call, 1 to %d", wechat.KfRecordsPageMax))
}

// check refuses the flags sub does not take (when given on the command
// line: a WXBOT_TIMEZONE set for serve is no mistake) and reads the times,
// all before any call.
func (f *kfReadFlags) check(args []string, sub string) error {
	for name, subs := range kfReadFlagNames {
		if onCommandLine(args, name) && !slices.Contains(subs, sub) {
			return usagef("--%s is not a flag of kf %s (it is for kf %s)", name, sub, strings.Join(subs, ", "))
		}
	}
	if !slices.Contains(kfReadFlagNames["timezone"], sub) {
		return nil
	}
	loc, err := loadLocation(f.timezone)
	if err != nil {
		return err
	}
	f.loc = loc
	if sub != "records" {
		return nil
	}
	if f.pageSize < 1 || f.pageSize > wechat.KfRecordsPageMax {
		return usagef("--page-size %d: want 1 to %d", f.pageSize, wechat.KfRecordsPageMax)
	}
	if f.from == "" {
		return usagef(`kf records needs --from: the first time, e.g. --from "2026-03-01" or --from "2026-03-01 09:30" (in --timezone %s)`, f.timezone)
	}
	if f.start, err = parseKfTime(f.from, loc, false); err != nil {
		return usagef("--from %q%s: %v", f.from, fromEnv(args, "from"), err)
	}
	f.end = time.Now().In(loc)
	if f.to != "" {
		if f.end, err = parseKfTime(f.to, loc, true); err != nil {
			return usagef("--to %q%s: %v", f.to, fromEnv(args, "to"), err)
		}
	}
	if f.end.Before(f.start) {
		return usagef("--to %s is before --from %s", f.end.Format(kfTimeLayout), f.start.Format(kfTimeLayout))
	}
	return nil
}

// onCommandLine reports whether the flag name is among args.
func onCommandLine(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// fromEnv names the variable a flag's value came from, if not args: the
// simulate command's WXBOT_FROM is an OpenID, not a time.
func fromEnv(args []string, name string) string {
	if onCommandLine(args, name) {
		return ""
	}
	return " (from " + EnvName(name) + ")"
}

// kfTimeLayout prints a time with its zone: the zone's abbreviation
// changes within a range that crosses a daylight-saving change.
const kfTimeLayout = "2006-01-02 15:04:05 MST"

// parseKfTime reads a time in loc (RFC 3339 carries its own zone). A date
// alone is the day's first second, or with end its last.
func parseKfTime(s string, loc *time.Location, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.In(loc), nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf(`want a date or a time: "2026-03-01", "2026-03-01 09:30", "2026-03-01 09:30:00" or RFC 3339`)
	}
	if end {
		t = t.AddDate(0, 0, 1).Add(-time.Second)
	}
	return t, nil
}

func (f *kfReadFlags) when(unix int64) string {
	if unix <= 0 {
		return "-"
	}
	return time.Unix(unix, 0).In(f.loc).Format(kfTimeLayout)
}

func runKfSessions(ctx context.Context, env *cmdEnv, c *wechat.Client, f *kfReadFlags, args []string) error {
	list, err := c.KfSessionList(ctx, args[0])
	if err != nil {
		return fmt.Errorf("listing the sessions of %s: %w", args[0], err)
	}
	if len(list) == 0 {
		fmt.Fprintf(env.stdout, "%s is serving no session\n", args[0])
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tSINCE")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\n", s.OpenID, f.when(s.CreateTime))
	}
	tw.Flush()
	fmt.Fprintf(env.stdout, "%d session%s of %s\n", len(list), plural(len(list)), args[0])
	return nil
}

func runKfWaiting(ctx context.Context, env *cmdEnv, c *wechat.Client, f *kfReadFlags, _ []string) error {
	count, list, err := c.KfWaitCase(ctx)
	if err != nil {
		return fmt.Errorf("listing the users waiting for a kefu: %w", err)
	}
	if count == 0 {
		fmt.Fprintln(env.stdout, "nobody is waiting for a kefu")
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tLAST MESSAGE")
	for _, w := range list {
		fmt.Fprintf(tw, "%s\t%s\n", w.OpenID, f.when(w.LatestTime))
	}
	tw.Flush()
	if count > len(list) {
		fmt.Fprintf(env.stdout, "%d waiting; WeChat lists the %d who have waited longest\n", count, len(list))
		return nil
	}
	fmt.Fprintf(env.stdout, "%d waiting\n", count)
	return nil
}

// kfRecordJSON is a record in --json output: WeChat's fields, its time
// also in RFC 3339 in --timezone.
type kfRecordJSON struct {
	Time     string `json:"time"`
	Unix     int64  `json:"unix"`
	OpenID   string `json:"openid"`
	Worker   string `json:"worker"`
	OperCode int    `json:"opercode"`
	Text     string `json:"text"`
}

// runKfRecords prints the records as they come, page by page: a table
// (aligned once, at the end), or JSON Lines, which a long range streams and
// `jq -s` makes an array of.
func runKfRecords(ctx context.Context, env *cmdEnv, c *wechat.Client, f *kfReadFlags, _ []string) error {
	enc := json.NewEncoder(env.stdout)
	enc.SetEscapeHTML(false)
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	n := 0
	q := wechat.KfRecordsQuery{Start: f.start, End: f.end, PageSize: f.pageSize}
	err := c.KfRecords(ctx, q, func(page []wechat.KfRecord) error {
		for _, r := range page {
			if f.json {
				t := time.Unix(r.Time, 0).In(f.loc).Format(time.RFC3339)
				if err := enc.Encode(kfRecordJSON{t, r.Time, r.OpenID, r.Worker, r.OperCode, r.Text}); err != nil {
					return fmt.Errorf("writing the records: %w", err)
				}
			} else {
				if n == 0 {
					fmt.Fprintln(tw, "TIME\tUSER\tKEFU\tFROM\tTEXT")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.when(r.Time), r.OpenID, orDash(r.Worker), kfRecordFrom(r.OperCode), oneLine(r.Text))
			}
			n++
		}
		return nil
	})
	tw.Flush()
	span := f.start.Format(kfTimeLayout) + " to " + f.end.Format(kfTimeLayout)
	if err != nil {
		return fmt.Errorf("reading the chat records from %s (%d read): %w", span, n, err)
	}
	switch {
	case f.json:
	case n == 0:
		fmt.Fprintf(env.stdout, "no chat records from %s\n", span)
	default:
		fmt.Fprintf(env.stdout, "%d record%s from %s\n", n, plural(n), span)
	}
	return nil
}

// kfRecordFrom says who wrote a record's text.
func kfRecordFrom(op int) string {
	switch op {
	case wechat.KfOperKefuSent:
		return "kefu"
	case wechat.KfOperKefuReceived:
		return "user"
	}
	return fmt.Sprintf("op %d", op)
}

// oneLine keeps a record on its row of the table. The text is the last
// column: tabwriter counts runes, not display width, so Chinese text
// anywhere else would skew the columns after it.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ⏎ ", "\n", " ⏎ ", "\r", " ⏎ ", "\t", " ").Replace(s)
}
