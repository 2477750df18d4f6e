package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Tallies keep the daily counters behind the console's 数据 (Analytics) and
// 未回复 (Unanswered) pages: how many pushes of each type a day, which
// texts users sent and which of them no rule answered, which menu keys
// they tapped, which rules answered, the AI's answers and tokens, and the
// handoffs. The engine counts in memory and adds its counts every few
// seconds (engine.Tally), so a push never waits for them; replicas on one
// store add to the same counters.
//
// What a day keeps is bounded: at most MaxTallyNames names of a kind
// (a name new to a full kind is dropped, the names already there go on
// counting), and a day is forgotten TallyRetention after it ends. The
// memory, bolt and redis stores implement it; a caller finds it by type
// assertion.
type Tallies interface {
	// AddTallies adds each count to its (day, kind, name) counter.
	AddTallies(ctx context.Context, counts []Tally) error
	// ReadTallies returns the counters of day, every kind, in no order.
	ReadTallies(ctx context.Context, day string) ([]Tally, error)
}

// Tally is one counter: N of Name (a text, a menu key, a rule, an event
// type…) of Kind on Day (see TallyDay).
type Tally struct {
	Day, Kind, Name string
	N               int64
}

// Bounds of the daily counters.
const (
	// MaxTallyNames is how many names a kind keeps a day: the unanswered
	// texts of a busy day are many, the top 50 of a week need far fewer.
	MaxTallyNames = 1000
	// MaxTallyName is the longest name kept, in bytes; longer names are
	// the caller's to shorten or leave out (the engine leaves out texts
	// longer than a keyword could be).
	MaxTallyName = 200
	// TallyRetention is how long a day's counters are kept after the day:
	// the Analytics page shows 30 days.
	TallyRetention = 35 * 24 * time.Hour
)

// TallyDay names the day of t in loc, as the counters key it: 20261206.
func TallyDay(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("20060102")
}

// TallyDayEnd is when the day named day ends (UTC days: the name carries
// no zone, and a day or so either way does not matter to a retention of
// weeks); false when day is no day's name.
func TallyDayEnd(day string) (time.Time, bool) {
	t, err := time.Parse("20060102", day)
	if err != nil {
		return time.Time{}, false
	}
	return t.Add(24 * time.Hour), true
}

// TallyExpired reports whether the counters of day are past
// TallyRetention at now, or day is no day's name.
func TallyExpired(day string, now time.Time) bool {
	end, ok := TallyDayEnd(day)
	return !ok || now.Sub(end) > TallyRetention
}

// CheckTally refuses a counter that a store must not keep: a name too long,
// an empty kind, a day that is no day's name.
func CheckTally(t Tally) error {
	switch {
	case t.Kind == "":
		return fmt.Errorf("daily counter %q of %s: no kind", t.Name, t.Day)
	case len(t.Name) > MaxTallyName:
		return fmt.Errorf("daily counter of %s %s: a name of %d bytes (at most %d)", t.Kind, t.Day, len(t.Name), MaxTallyName)
	}
	if _, ok := TallyDayEnd(t.Day); !ok {
		return fmt.Errorf("daily counter %s %q: %q is no day (want YYYYMMDD)", t.Kind, t.Name, t.Day)
	}
	return nil
}

// CheckTallies refuses a batch with an invalid counter before anything of
// it is added: a batch half added and then retried would count twice.
func CheckTallies(counts []Tally) error {
	for _, t := range counts {
		if err := CheckTally(t); err != nil {
			return fmt.Errorf("daily counters: none of the %d added (check each with store.CheckTally and leave out the invalid ones): %w", len(counts), err)
		}
	}
	return nil
}

// CheckTallyDay refuses to read a day that is no day's name.
func CheckTallyDay(day string) error {
	if _, ok := TallyDayEnd(day); !ok {
		return fmt.Errorf("daily counters of %q: no day (want YYYYMMDD, see store.TallyDay)", day)
	}
	return nil
}

// SortTallies orders counters by kind, then name, as the stores read them.
func SortTallies(ts []Tally) {
	slices.SortFunc(ts, func(a, b Tally) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name))
	})
}
