//go:build race

package dedup

// raceEnabled skips allocation counts, which the race detector inflates.
const raceEnabled = true
