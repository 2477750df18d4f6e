package rules

import "strings"

// noteRecent marks the rules as reading event.recent when an expression
// may: users' texts are then kept and read on every push, a cost the
// rules that never read them should not pay. A false positive (a var
// named recent) only costs that.
func (l *loader) noteRecent(src string) {
	if strings.Contains(src, "recent") {
		l.needsRecent = true
	}
}
