package rules

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine"
)

// parseHandoff reads the top-level `handoff: {quiet: true, timeout: 30m}`;
// one file of a rules directory may set it.
func (l *loader) parseHandoff(n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.errAt(n, "handoff: want a mapping such as {quiet: true, timeout: 30m}")
		return
	}
	if l.handoff != nil {
		p := l.handoffPos
		l.errAt(n, fmt.Sprintf("handoff: already set at %s:%d:%d (one file of the rules sets it)", p.File, p.Line, p.Col))
		return
	}
	h := engine.DefaultHandoff
	d := &decoder{l: l, prefix: "handoff: "}
	fields := l.knownFields(n, []string{"quiet", "timeout"}, "handoff")
	if v := fields["quiet"]; v != nil {
		d.decode(v, reflectValue(&h.Quiet), "quiet")
	}
	if v := fields["timeout"]; v != nil {
		d.decode(v, reflectValue(&h.Timeout), "timeout")
		if h.Timeout < time.Minute {
			l.errAt(v, fmt.Sprintf("handoff: timeout: %s is under a minute: how long a transfer or an agent's session keeps the bot quiet when no close comes (WeChat's own is 30m)", h.Timeout))
		}
	}
	l.handoff, l.handoffPos = &h, l.pos(n)
}
