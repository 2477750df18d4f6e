package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a named span of time, an entry of the rules file's
// `windows:`, that rules refer to with `active:` and active("name"): office
// hours, a campaign. (Not to be confused with a user's kefu window.) A
// time is inside when it falls on one of the weekdays, within one of the
// hour ranges, and between From and Until; an empty part does not restrict.
type Schedule struct {
	Name     string
	Weekdays [7]bool    // indexed by time.Weekday; all false means every day
	Hours    []DayRange // empty means all day
	// From and Until bound the schedule in wall-clock time of the bot's time
	// zone, stored as UTC dates: 2026-11-11 00:00 means midnight in
	// --timezone, whatever it is. Zero means unbounded; Until is exclusive.
	From, Until time.Time
}

// DayRange is a range of minutes after midnight, [Start, End). End < Start
// wraps past midnight (22:00-06:00).
type DayRange struct {
	Start, End int
}

// Contains reports whether t, in the bot's time zone, is inside the schedule.
func (w *Schedule) Contains(t time.Time) bool {
	wall := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	if !w.From.IsZero() && wall.Before(w.From) {
		return false
	}
	if !w.Until.IsZero() && !wall.Before(w.Until) {
		return false
	}
	min := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	if len(w.Hours) == 0 {
		return w.onDay(day)
	}
	for _, h := range w.Hours {
		switch {
		case h.Start <= h.End:
			if min >= h.Start && min < h.End && w.onDay(day) {
				return true
			}
		case min >= h.Start: // before midnight: the range started today
			if w.onDay(day) {
				return true
			}
		case min < h.End: // after midnight: it started yesterday
			if w.onDay((day + 6) % 7) {
				return true
			}
		}
	}
	return false
}

func (w *Schedule) onDay(d time.Weekday) bool {
	any := false
	for _, on := range w.Weekdays {
		any = any || on
	}
	return !any || w.Weekdays[d]
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWeekday reads mon, tue, … (or full English names), case-insensitively.
func ParseWeekday(s string) (time.Weekday, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 3 {
		for name, d := range weekdayNames {
			if strings.HasPrefix(s, name) && strings.EqualFold(s, d.String()) {
				return d, nil
			}
		}
	}
	if d, ok := weekdayNames[s]; ok {
		return d, nil
	}
	return 0, fmt.Errorf("unknown weekday %q (want mon, tue, wed, thu, fri, sat or sun)", s)
}

// ParseWallTime reads "2026-11-11", "2026-11-11 20:00" or
// "2026-11-11T20:00:00" as a wall-clock time (see Schedule.From).
func ParseWallTime(s string) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, "2006-01-02 15:04", time.DateTime, "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (want 2026-11-11 or 2026-11-11 20:00, in the bot's time zone)", s)
}

// ParseDayRange reads "09:00-18:00"; "22:00-06:00" wraps past midnight and
// "24:00" ends a day.
func ParseDayRange(s string) (DayRange, error) {
	a, b, ok := strings.Cut(strings.ReplaceAll(s, " ", ""), "-")
	if !ok {
		return DayRange{}, fmt.Errorf("hours %q: want HH:MM-HH:MM, e.g. 09:00-18:00", s)
	}
	start, err := parseClock(a)
	if err != nil {
		return DayRange{}, fmt.Errorf("hours %q: %w", s, err)
	}
	end, err := parseClock(b)
	if err != nil {
		return DayRange{}, fmt.Errorf("hours %q: %w", s, err)
	}
	if start == end {
		return DayRange{}, fmt.Errorf("hours %q: empty range", s)
	}
	return DayRange{Start: start, End: end}, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) || len(m) != 2 {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM)", s)
	}
	return hh*60 + mm, nil
}
