//go:build !race

package wechat

// raceEnabled skips allocation counts, which the race detector inflates.
const raceEnabled = false
